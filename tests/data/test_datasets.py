"""Paired-folder layouts, determinism, augmentation and collate; checked against the files
written by the test itself and against scipy.ndimage for the kernel bookkeeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import convolve

from restorekit import ConfigError, InputError
from restorekit.data import build_dataset, collate, paired_augment, sample_generator
from restorekit.data.kernel_utils import compose, to_odd


def _save(path: Path, seed: int, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    arr = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def _as_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr.transpose(2, 0, 1) / 255.0).float()


def test_gopro_layout_pairs_scenes(tmp_path: Path) -> None:
    arrs = {}
    for scene in ("GOPR0001", "GOPR0002"):
        for i in range(2):
            arrs[(scene, i, "blur")] = _save(tmp_path / "test" / scene / "blur" / f"{i:06d}.png", hash((scene, i, 0)) % 1000)
            arrs[(scene, i, "sharp")] = _save(tmp_path / "test" / scene / "sharp" / f"{i:06d}.png", hash((scene, i, 1)) % 1000)
    ds = build_dataset({"val": {"type": "gopro", "root": str(tmp_path)}}, "val", seed=0)
    assert len(ds) == 4
    s = ds[3]
    assert s["name"] == "GOPR0002/000001"
    assert torch.allclose(s["blurry"], _as_tensor(arrs[("GOPR0002", 1, "blur")]))
    assert torch.allclose(s["sharp"], _as_tensor(arrs[("GOPR0002", 1, "sharp")]))


def test_dpdd_lfdof_realblur_paired_layouts(tmp_path: Path) -> None:
    d = tmp_path / "dpdd"
    b = _save(d / "test_c" / "source" / "1P0A0001.png", 1)
    _save(d / "test_c" / "target" / "1P0A0001.png", 2)
    s = build_dataset({"test": {"type": "dpdd", "root": str(d)}}, "test")[0]
    assert torch.allclose(s["blurry"], _as_tensor(b))

    lf = tmp_path / "lfdof"
    gt = _save(lf / "train_data" / "ground_truth" / "IMG_1275.png", 3)
    for k in range(3):
        _save(lf / "train_data" / "input" / "IMG_1275" / f"IMG_1275_ap1_0{k}.png", 10 + k)
    ds = build_dataset({"train": {"type": "lfdof", "root": str(lf)}}, "train")
    assert len(ds) == 3 and all(torch.allclose(ds[i]["sharp"], _as_tensor(gt)) for i in range(3))

    rb = tmp_path / "realblur"
    _save(rb / "scene1" / "gt" / "gt_1.png", 4)
    blur = _save(rb / "scene1" / "blur" / "blur_1.png", 5)
    (rb / "RealBlur_J_test_list.txt").write_text("scene1/gt/gt_1.png scene1/blur/blur_1.png\n")
    s = build_dataset({"test": {"type": "realblur", "root": str(rb)}}, "test")[0]
    assert torch.allclose(s["blurry"], _as_tensor(blur))

    p = tmp_path / "paired"
    _save(p / "in" / "a.png", 6)
    _save(p / "gt" / "a.png", 7)
    ds = build_dataset({"train": {"type": "paired", "root": str(p), "blurry_dir": "in", "sharp_dir": "gt"}}, "train")
    assert len(ds) == 1


def test_missing_folder_names_expected_and_found(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "validation").mkdir()
    with pytest.raises(InputError) as err:
        build_dataset({"val": {"type": "gopro", "root": str(tmp_path)}}, "val")
    msg = str(err.value)
    assert f"'{tmp_path / 'test'}' does not exist" in msg and "train, validation" in msg
    _save(tmp_path / "train" / "s1" / "blur" / "0.png", 0)
    with pytest.raises(InputError, match=r"scene 's1'.*sharp"):
        build_dataset({"train": {"type": "gopro", "root": str(tmp_path)}}, "train")


def test_unpaired_names_are_listed(tmp_path: Path) -> None:
    _save(tmp_path / "blur" / "a.png", 0)
    _save(tmp_path / "blur" / "b.png", 1)
    _save(tmp_path / "sharp" / "a.png", 2)
    _save(tmp_path / "sharp" / "c.png", 3)
    with pytest.raises(InputError) as err:
        build_dataset({"train": {"type": "paired", "root": str(tmp_path)}}, "train")
    assert "unpaired" in str(err.value) and ": b" in str(err.value) and ": c" in str(err.value)


def test_corrupt_image_and_size_mismatch(tmp_path: Path) -> None:
    _save(tmp_path / "blur" / "a.png", 0)
    (tmp_path / "sharp").mkdir()
    (tmp_path / "sharp" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    ds = build_dataset({"train": {"type": "paired", "root": str(tmp_path)}}, "train")
    with pytest.raises(InputError, match="corrupt"):
        ds[0]
    _save(tmp_path / "sharp" / "a.png", 1, size=(20, 32))
    with pytest.raises(InputError, match="pixel-aligned"):
        ds[0]


def test_determinism_and_epochs(tmp_path: Path) -> None:
    for i in range(2):
        _save(tmp_path / "blur" / f"{i}.png", i, size=(48, 48))
        _save(tmp_path / "sharp" / f"{i}.png", 10 + i, size=(48, 48))
    cfg = {"train": {"type": "paired", "root": str(tmp_path), "crop": 16, "flips": True, "rot90": True},
           "val": {"type": "paired", "root": str(tmp_path), "crop": 16}}
    a, b = build_dataset(cfg, "train", seed=5), build_dataset(cfg, "train", seed=5)
    assert torch.equal(a[1]["blurry"], b[1]["blurry"])  # same seed → same sample
    torch.manual_seed(123)  # global RNG state must not matter
    assert torch.equal(a[1]["sharp"], b[1]["sharp"])
    first = a[1]["sharp"]
    a.set_epoch(1)
    assert not torch.equal(first, a[1]["sharp"])  # another epoch → another crop
    assert not torch.equal(first, build_dataset(cfg, "train", seed=6)[1]["sharp"])
    v = build_dataset(cfg, "val", seed=5)
    v0 = v[0]["sharp"]
    v.set_epoch(7)
    assert torch.equal(v0, v[0]["sharp"])  # validation is fixed: centred crop
    full = _as_tensor(np.asarray(Image.open(tmp_path / "sharp" / "0.png")))
    assert torch.equal(v0, full[:, 16:32, 16:32])


def test_augmentation_keeps_the_blur_model_consistent() -> None:
    """flip/rot90 of (x, y = k * x) and of k together still satisfy y' = k' * x' (scipy, wrap)."""
    g = np.random.default_rng(0)
    x = g.random((20, 20))
    k = g.random((5, 4))
    k /= k.sum()
    k_odd = to_odd(torch.from_numpy(k)).numpy()
    y = convolve(x, k_odd, mode="wrap")
    for seed in range(6):
        out, k2 = paired_augment(
            {"x": torch.from_numpy(x)[None], "y": torch.from_numpy(y)[None]}, sample_generator(seed, 0, 0),
            flips=True, rot90=True, kernel=torch.from_numpy(k_odd)[None],
        )
        assert np.allclose(convolve(out["x"][0].numpy(), k2[0].numpy(), mode="wrap"), out["y"][0].numpy(), atol=1e-12)


def test_collate_pads_kernels_centred_to_a_common_odd_size() -> None:
    g = np.random.default_rng(1)
    k1, k2 = g.random((3, 3)), g.random((5, 3))
    k1, k2 = k1 / k1.sum(), k2 / k2.sum()
    samples = [
        {"blurry": torch.zeros(3, 8, 8), "kernel": torch.from_numpy(k1)[None], "name": "a"},
        {"blurry": torch.ones(3, 8, 8), "kernel": torch.from_numpy(k2)[None], "name": "b"},
    ]
    batch = collate(samples)
    assert batch["kernel"].shape == (2, 1, 5, 3) and batch["name"] == ["a", "b"]
    x = g.random((12, 12))
    for k, kp in ((k1, batch["kernel"][0, 0]), (k2, batch["kernel"][1, 0])):
        assert kp.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert np.allclose(convolve(x, k, mode="wrap"), convolve(x, kp.numpy(), mode="wrap"), atol=1e-12)
    # composing two blurs: one kernel equal to blurring twice
    kc = compose(torch.from_numpy(k1), torch.from_numpy(k2)).numpy()
    twice = convolve(convolve(x, k1, mode="wrap"), k2, mode="wrap")
    assert np.allclose(convolve(x, kc, mode="wrap"), twice, atol=1e-12)
    with pytest.raises(InputError, match="differ in shape"):
        collate([{"blurry": torch.zeros(3, 8, 8)}, {"blurry": torch.zeros(3, 8, 9)}])


def test_settings_errors() -> None:
    with pytest.raises(ConfigError, match="data.val is not set"):
        build_dataset({"train": {"type": "paired", "root": "x"}}, "val")
    with pytest.raises(ConfigError, match="did you mean 'gopro'"):
        build_dataset({"train": {"type": "gopr", "root": "x"}}, "train")
    with pytest.raises(ConfigError, match="needs option"):
        build_dataset({"train": {"type": "paired"}}, "train")
    with pytest.raises(ConfigError, match="unknown option .degradations. for dataset standard.paired"):
        build_dataset({"train": {"type": "paired", "root": "x", "degradations": [{"type": "noise"}]}}, "train")
