"""The demo framework: rows from plugins, scenes, outputs written atomically, PSFs as .npy,
images that do not beat their input left out of the figure."""

from __future__ import annotations

import csv
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import restorekit
from restorekit import hookimpl
from restorekit.demo import DemoEntry, run_demo
from restorekit.demo.entries import collect_entries
from restorekit.demo.scenes import blind_scene, demo_kernel, nonblind_scene
from restorekit.functional import conv2d
from restorekit.plugin_host import get_host
from restorekit.psf import load_kernel

IDENTITY = {"model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}}}  # zero-init: restored = input


def test_nonblind_scene_is_a_valid_convolution_of_the_sharp_image() -> None:
    sample = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    scene = nonblind_scene("x", sample, seed=3)
    k = demo_kernel(3)
    assert torch.equal(scene.kernel, k.float())
    kh, kw = k.shape[-2:]
    assert scene.sharp.shape[-2:] == (64 - kh + 1, 64 - kw + 1) == scene.blurry.shape[-2:]
    clean = conv2d(sample.double(), k, boundary="valid")  # the same blur without the noise
    noise = scene.blurry.double() - clean
    assert 0.008 < float(noise.std()) < 0.012  # 1 % Gaussian noise
    # the sharp crop is the part the valid convolution observes: blurring a larger crop
    # of it would need pixels outside; check the centre alignment instead
    top, left = (kh - 1) // 2, (kw - 1) // 2
    assert torch.equal(scene.sharp, sample[..., top : top + scene.sharp.shape[-2], left : left + scene.sharp.shape[-1]].float())


def test_blind_scenes_are_seeded_and_blur() -> None:
    sample = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    a, b = blind_scene("x", sample, "defocus", 0), blind_scene("x", sample, "defocus", 0)
    assert torch.equal(a.blurry, b.blurry) and "defocus_radius" in a.extras
    m = blind_scene("x", sample, "motion", 0)
    assert m.kernel is not None and abs(float(m.kernel.sum()) - 1) < 1e-5
    assert float((m.blurry - sample).abs().mean()) > 0.01


def test_run_demo_writes_outputs_and_leaves_out_images_below_the_input(tmp_path: Path) -> None:
    entries = [
        DemoEntry("t.hqs", restorekit.resolve_config(Path(__file__).parents[2] / "pipelines" / "hqs.yaml"), task="nonblind", label="HQS", paper="SVMAP"),
        DemoEntry("t.identity", IDENTITY, task="motion", label="identity", paper="test"),
    ]
    rows = run_demo(tmp_path, images=1, entries=entries, echo=lambda s: None, progress=False)
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "results.md").read_text()
    assert "camera shake, PSF known" in table and "HQS" in table
    with (tmp_path / "results.csv").open() as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == len(rows)
    hqs = [r for r in rows if r.method == "HQS"]
    assert hqs and all(r.psnr > r.blurry_psnr and r.shown for r in hqs)
    ident = [r for r in rows if r.method == "identity"]
    assert ident and all(abs(r.psnr - r.blurry_psnr) < 0.05 for r in ident)
    assert all(not r.shown for r in ident)  # equal to the input, so not shown
    assert "†" in table
    # the PSF file is the true PSF, readable by restorekit deblur --kernel; the picture is a preview
    npy = next(tmp_path.glob("*_nonblind_psf.npy"))
    assert (tmp_path / npy.name.replace(".npy", "_preview.png")).is_file()
    assert np.allclose(load_kernel(npy), demo_kernel(0).squeeze().numpy(), atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))


def test_plugins_register_demo_rows_and_a_broken_hook_is_skipped(tmp_path: Path) -> None:
    host = get_host()
    good = types.ModuleType("demo_good")

    @hookimpl
    def register_pipelines(register):
        register("identity", pipeline=IDENTITY, label="identity", paper="test", task="motion", demo=True)
        register("hidden", pipeline=IDENTITY, task="motion")  # not a demo row

    good.register_pipelines = register_pipelines
    bad = types.ModuleType("demo_bad")

    @hookimpl
    def register_pipelines_bad(register):
        register("nothing", task="nonblind", demo=True)  # neither pipeline nor weights

    bad.register_pipelines = register_pipelines_bad
    host.pm.register(good, name="demo_good")
    host.pm.register(bad, name="demo_bad")
    messages: list[str] = []
    try:
        names = [e.name for e in collect_entries(echo=messages.append)]
    finally:
        host.pm.unregister(good)
        host.pm.unregister(bad)
    assert "demo_good.identity" in names and "demo_good.hidden" not in names
    assert not any(n.startswith("demo_bad") for n in names)
    assert any("demo_bad" in m and "neither a pipeline nor weights" in m for m in messages)
