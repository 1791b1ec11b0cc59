"""``restorekit demo`` end to end (small sizes), through the real command line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.plugins.svmap.demo import available_methods, bundled_svmap, demo_kernel, sample_images
from tests.conftest import run_cli


def _psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def test_bundled_samples_and_kernels() -> None:
    paths = sample_images()
    assert [p.stem for p in paths] == ["astronaut", "chelsea", "coffee"]
    for p in paths:
        im = Image.open(p)
        assert im.mode == "RGB" and im.size == (224, 224)
    k = demo_kernel(0).numpy()
    assert abs(k.sum() - 1) < 1e-12 and k.min() >= 0
    # cropped to its support: every border row/column carries mass
    assert k[0, 0].sum() > 0 and k[0, 0, -1].sum() > 0 and k[0, 0, :, 0].sum() > 0 and k[0, 0, :, -1].sum() > 0
    np.testing.assert_array_equal(k, demo_kernel(0).numpy())  # deterministic


def test_demo_command_writes_images_figure_and_tables(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = run_cli(["demo", "--out", str(out), "--size", "64", "--images", "2", "--max-it", "15"])
    assert res.returncode == 0, res.stderr + res.stdout
    assert "mean PSNR" in res.stdout
    for name in ("astronaut", "chelsea"):
        for suffix in ("sharp", "blurry", "gaussian_l2", "hqs", "levin_irls", "kernel"):
            assert (out / f"{name}_{suffix}.png").is_file(), suffix
    fig = Image.open(out / "figure.png")
    assert fig.size[0] > 6 * 40 and fig.size[1] > 2 * 40
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 * len(available_methods())
    assert ({r['method'] for r in rows} >= {'svmap'}) == (bundled_svmap() is not None)
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # atomic writes left no temp files
    # the table's PSNR equals an independent 8-bit PSNR of the written images
    for row in rows:
        sharp = np.asarray(Image.open(out / f"{row['image']}_sharp.png"))
        restored = np.asarray(Image.open(out / f"{row['image']}_{row['method']}.png"))
        assert float(row["psnr_db"]) == pytest.approx(_psnr_u8(restored, sharp), abs=1e-3)
    by = {(r["image"], r["method"]): float(r["psnr_db"]) for r in rows}
    for name in ("astronaut", "chelsea"):
        assert by[(name, "hqs")] > by[(name, "blurry")] + 2.0
        assert by[(name, "levin_irls")] > by[(name, "blurry")] + 1.0
    md = (out / "results.md").read_text()
    assert "Levin IRLS" in md and "Krishnan-Fergus HQS" in md


def test_demo_rejects_bad_options(tmp_path: Path) -> None:
    res = run_cli(["demo", "--out", str(tmp_path / "x"), "--methods", "wiener"])
    assert res.returncode != 0
    assert "unknown demo method" in (res.stderr + res.stdout)


def test_demo_runs_a_trained_pipeline_as_an_extra_row(tmp_path: Path) -> None:
    """--pipeline/--weights: an (untrained, tiny) SVMAP saved as safetensors is loaded and scored."""
    import restorekit
    import yaml
    from safetensors.torch import save_file

    from tests.conftest import ROOT

    cfg = yaml.safe_load((ROOT / "pipelines" / "svmap.yaml").read_text())
    cfg["model"]["decoder"].update(width=4, layers=1, data_filter_size=3, reg_filter_size=3, cg_iterations=3)
    cfg_path = tmp_path / "svmap_tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    pipe = restorekit.load_pipeline(cfg_path)
    save_file({k: v.contiguous() for k, v in pipe.state_dict().items()}, str(tmp_path / "w.safetensors"))
    out = tmp_path / "demo"
    res = run_cli(["demo", "--out", str(out), "--size", "48", "--images", "1", "--methods", "blurry",
                   "--pipeline", str(cfg_path), "--weights", str(tmp_path / "w.safetensors")])
    assert res.returncode == 0, res.stderr + res.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["method"] for r in rows] == ["blurry", "svmap_tiny"]
    assert (out / "astronaut_svmap_tiny.png").is_file()
