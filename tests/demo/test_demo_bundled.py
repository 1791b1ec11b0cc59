"""``restorekit demo`` as shipped: the rows the installed plugins register, on a bundled photo.

Every paper is represented, every restored image in the table beats its blurry input, the
figure is a titled PNG, the PSFs are ``.npy`` arrays that ``--kernel`` accepts and the previews
are refused by it (issue 14)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.cli import main
from restorekit.demo.entries import collect_entries


def test_every_paper_has_demo_rows() -> None:
    entries = collect_entries()
    papers = {e.paper for e in entries}
    assert {"NRKNet", "SVMAP", "DRAMNet", "AIBNet"} <= papers, papers
    assert any(not e.blind for e in entries) and any(e.blind for e in entries)
    for kind in ("motion", "defocus"):
        assert any(e.blind and kind in str(e.task).split("+") for e in entries), f"no blind demo row for {kind}"


@pytest.mark.slow
def test_demo_on_one_photo_beats_every_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo_out"
    assert main(["demo", "--out", str(out), "--images", "1", "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    restored = [r for r in rows if r["method"] != "blurry"]
    assert {r["kind"] for r in rows} == {"nonblind", "motion", "defocus"}
    bad = [(r["scene"], r["method"], r["psnr_db"], r["blurry_psnr_db"]) for r in restored if r["beats_blurry"] != "1"]
    assert not bad, f"restored images that do not beat their blurry input: {bad}"
    fig = Image.open(out / "figure.png")
    assert fig.size[0] > 600 and fig.size[1] > 300
    text = (out / "results.md").read_text()
    assert "CPU-seconds" in text and "| method |" in text
    psfs = sorted(out.glob("*_psf.npy"))
    assert psfs and sorted(out.glob("*_psf_preview.png"))
    k = np.load(psfs[0])
    assert k.ndim == 2 and abs(k.sum() - 1) < 1e-4 and k.min() >= 0
    # the preview is a picture, so --kernel refuses it and names the .npy beside it
    preview = next(out.glob("*_nonblind_psf_preview.png"))
    blurry = out / preview.name.replace("_psf_preview.png", "_blurry.png")
    capsys.readouterr()
    rc = main(["deblur", str(blurry), "-o", str(tmp_path / "x"), "--kernel", str(preview)])
    err = capsys.readouterr().err
    assert rc != 0 and preview.name.replace("_preview.png", ".npy") in err, err
    # and the .npy beside it is accepted
    npy = out / preview.name.replace("_psf_preview.png", "_psf.npy")
    assert main(["deblur", str(blurry), "-o", str(tmp_path / "y"), "--kernel", str(npy), "--pipeline", "hqs"]) == 0
