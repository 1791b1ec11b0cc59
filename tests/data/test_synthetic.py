"""Synthetic degradation: blur matches scipy.ndimage, kernels are valid PSFs, noise/JPEG/
saturation behave as documented, options are validated with "did you mean"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import convolve

from restorekit import ConfigError
from restorekit.config import resolve_config
from restorekit.data import build_dataset, check_degradation, degrade, sample_generator


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    g = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(g.integers(0, 256, size=(40, 44, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    return tmp_path


def _cfg(folder: Path, degradations: list, **extra: object) -> dict:
    return {"train": {"type": "synthetic", "root": str(folder), "length": 4, "degradations": degradations, **extra},
            "val": {"type": "synthetic", "root": str(folder), "length": 2, "degradations": degradations, **extra}}


def test_uniform_blur_matches_scipy_and_kernel_is_a_psf(folder: Path) -> None:
    chain = [{"type": "motion_bf", "canvas": 15, "max_len": [4.0, 10.0]}, {"type": "gaussian", "sigma1": [0.5, 1.2]}]
    ds = build_dataset(_cfg(folder, chain, crop=32, flips=True, rot90=True), "train", seed=3)
    for i in range(2):
        s = ds[i]
        k = s["kernel"][0].double().numpy()
        assert s["kernel"].shape[-1] % 2 == 1 and s["kernel"].shape[-2] % 2 == 1
        assert k.min() >= 0 and abs(k.sum() - 1) < 1e-6
        sharp = s["sharp"].double().numpy()
        ref = np.stack([convolve(c, k, mode="mirror") for c in sharp])  # torch 'reflect' = scipy 'mirror'
        r = k.shape[0] // 2  # two blurs with reflect borders equal the composite kernel away from the border
        assert np.abs(ref - s["blurry"].double().numpy())[:, r:-r, r:-r].max() < 1e-5
    one = build_dataset(_cfg(folder, chain[:1], crop=32), "train", seed=4)[0]
    k = one["kernel"][0].double().numpy()
    ref = np.stack([convolve(c, k, mode="mirror") for c in one["sharp"].double().numpy()])
    assert np.abs(ref - one["blurry"].double().numpy()).max() < 1e-5  # one blur: exact everywhere


def test_synthetic_determinism(folder: Path) -> None:
    chain = [{"type": "motion_gp", "size": 9}, {"type": "noise", "sigma": [0.0, 0.05]}]
    cfg = _cfg(folder, chain, crop=24)
    a, b = build_dataset(cfg, "train", seed=1), build_dataset(cfg, "train", seed=1)
    torch.manual_seed(0)
    s1 = a[2]
    torch.manual_seed(99)
    s2 = b[2]
    assert torch.equal(s1["blurry"], s2["blurry"]) and torch.equal(s1["kernel"], s2["kernel"])
    a.set_epoch(1)
    assert not torch.equal(a[2]["blurry"], s1["blurry"])
    v = build_dataset(cfg, "val", seed=1)
    first = v[0]["blurry"]
    v.set_epoch(5)
    assert torch.equal(first, v[0]["blurry"])


def test_noise_jpeg_saturation() -> None:
    gen = sample_generator(0, 0, 0)
    flat = torch.full((1, 64, 64), 0.5)
    noisy = degrade(flat, [{"type": "noise", "sigma": 0.05}], gen)["blurry"]
    assert abs((noisy - flat).std().item() - 0.05) < 0.005 and abs((noisy - flat).mean().item()) < 0.005
    bright = torch.full((3, 16, 16), 0.95)
    sat = degrade(bright, [{"type": "saturation", "threshold": 0.9, "gain": 2.0}, {"type": "gaussian", "sigma1": 1.0}], gen)
    assert torch.allclose(sat["blurry"], torch.ones(3, 16, 16))  # 0.95 → 1.45 → blurred → clipped to 1
    img = torch.from_numpy(np.random.default_rng(1).random((3, 32, 32))).float()
    out = degrade(img, [{"type": "jpeg", "quality": 30}], gen)["blurry"]
    arr = np.round(img.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=30)
    ref = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
    assert np.abs(out.numpy().transpose(1, 2, 0) - ref).max() < 1e-6
    skipped = degrade(img, [{"type": "motion_bf", "canvas": 9, "p": 0.0}], gen)
    assert torch.equal(skipped["blurry"], img) and skipped["kernel"].shape == (1, 1, 1)


def test_degradation_validation() -> None:
    with pytest.raises(ConfigError, match="did you mean 'canvas'"):
        check_degradation({"type": "motion_bf", "canvs": 21})
    with pytest.raises(ConfigError, match="did you mean 'motion_gp'"):
        check_degradation({"type": "motion_pg"})
    with pytest.raises(ConfigError, match="lo ≤ hi"):
        check_degradation({"type": "noise", "sigma": [0.1, 0.0]})
    with pytest.raises(ConfigError, match="needs option"):
        check_degradation({"type": "gaussian"})
    with pytest.raises(ConfigError, match="probability"):
        check_degradation({"type": "jpeg", "p": 2.0})
    with pytest.raises(ConfigError, match=r"degradations\[1\].canvs"):
        build_dataset({"train": {"type": "synthetic", "root": ".", "degradations": [{"type": "noise"}, {"type": "motion_bf", "canvs": 3}]}}, "train")
    base = {"model": {"decoder": {"type": "standard.unet"}}}
    with pytest.raises(ConfigError):  # rejected by `restorekit config validate` too
        resolve_config({**base, "data": {"train": {"type": "synthetic", "root": ".", "degradations": [{"type": "motion_bf", "canvs": 3}]}}})
    ok = resolve_config({**base, "data": {"train": {"type": "synthetic", "root": ".", "degradations": [{"type": "disk", "radius": [1.0, 3.0]}]}}})
    assert ok["data"]["train"]["degradations"] == [{"type": "disk", "radius": [1.0, 3.0]}]


def test_defocus_depth_constant_depth_is_a_uniform_disk_blur() -> None:
    """A constant depth gives the thin-lens radius r = (f/N)·f·|d − d_f| / (d·(d_f − f)) / (2·pitch)
    everywhere, and per-pixel disks of that radius equal a uniform disk blur (scipy, interior)."""
    from restorekit.psf import disk

    f, n, d_f, pitch, d = 0.05, 2.8, 2.0, 1e-4, 1.0
    r = (f / n) * f * abs(d - d_f) / (d * (d_f - f)) / (2 * pitch)
    img = torch.from_numpy(np.random.default_rng(2).random((1, 24, 24)))
    spec = {"type": "defocus_depth", "mode": "per_pixel", "focal_length": f, "f_number": n, "focus_distance": d_f,
            "pixel_pitch": pitch, "r_max": 3.0}
    out = degrade(img, [spec], sample_generator(0, 0, 0), depth=torch.full((1, 24, 24), d, dtype=torch.float64))
    assert torch.allclose(out["defocus_radius"], torch.full((1, 24, 24), r, dtype=torch.float64), atol=1e-9)
    k = disk(r, size=2 * 3 + 1).numpy()
    ref = convolve(img[0].numpy(), k, mode="mirror")
    assert np.abs(ref - out["blurry"][0].numpy())[3:-3, 3:-3].max() < 1e-9
    rnd = degrade(img.float(), [{"type": "defocus_depth", "r_max": 4.0}], sample_generator(1, 0, 0))
    assert rnd["depth"].min() >= 0.5 and rnd["depth"].max() <= 10.0 and float(rnd["defocus_radius"].std()) > 0


def test_one_of_picks_one_chain_per_image_with_its_weights() -> None:
    from restorekit.data.synthetic import degrade

    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = [{"type": "gaussian", "sigma1": 2.0, "sigma2": 2.0, "angle": 0.0}]
    b = [{"type": "noise", "sigma": 0.2}]
    spec = [{"type": "one_of", "choices": [a, b], "weights": [3.0, 1.0]}]
    picks = []
    for seed in range(200):
        out = degrade(x, spec, torch.Generator().manual_seed(seed))
        assert set(out) == {"blurry"}  # a mixed chain carries no kernel
        only_a = degrade(x, a, torch.Generator().manual_seed(123))["blurry"]
        is_a = torch.allclose(out["blurry"], only_a, atol=1e-6)
        picks.append(is_a)
    frac = sum(picks) / len(picks)
    assert 0.65 < frac < 0.85  # weight 3:1 → 0.75
    with pytest.raises(ConfigError, match="weights: give one non-negative number per choice"):
        degrade(x, [{"type": "one_of", "choices": [a, b], "weights": [1.0]}], torch.Generator())
    with pytest.raises(ConfigError, match="choices\\[1\\]\\[0\\].type: unknown degradation 'nois'"):
        degrade(x, [{"type": "one_of", "choices": [a, [{"type": "nois"}]]}], torch.Generator())
