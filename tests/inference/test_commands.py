"""`restorekit deblur` and `restorekit eval` end to end on tiny files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from restorekit.cli import main
from tests.conftest import ROOT

TINY = ROOT / "pipelines" / "tiny.yaml"


def _img(path: Path, seed: int, size: tuple[int, int] = (37, 45), dtype: type = np.uint8) -> np.ndarray:
    hi = np.iinfo(dtype).max
    arr = np.random.default_rng(seed).integers(0, hi + 1, size=(*size, 3) if dtype == np.uint8 else size, dtype=np.int64).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def _kernel(path: Path, scale: float = 1.0) -> Path:
    k = np.zeros((5, 5))
    k[2, 1:4] = 1 / 3
    np.save(path, k * scale)
    return path


def test_deblur_any_size_with_kernel_and_tiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_in = _img(tmp_path / "in" / "a.png", 0)
    b_in = _img(tmp_path / "in" / "sub" / "b.png", 1, size=(20, 16))
    gray16 = _img(tmp_path / "c16.png", 2, size=(33, 31), dtype=np.uint16)
    k = _kernel(tmp_path / "k.npy")
    code = main(["deblur", str(tmp_path / "in"), str(tmp_path / "c16.png"), "-o", str(tmp_path / "out"),
                 "--pipeline", str(TINY), "--kernel", str(k), "--tile", "16", "--overlap", "8", "--device", "cpu", "--channels", "3"])
    assert code == 0, capsys.readouterr().err
    a = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    b = np.asarray(Image.open(tmp_path / "out" / "sub" / "b.png"))
    c = np.asarray(Image.open(tmp_path / "out" / "c16.png"))
    assert a.shape == (37, 45, 3) and a.dtype == np.uint8 and b.shape == (20, 16, 3)
    assert c.shape == gray16.shape and c.dtype == np.uint16  # 16-bit in → 16-bit out
    # tiny.yaml's U-Net starts as the exact identity (zero-initialised residual), so padding to
    # the size multiple, tiling, blending, cropping and bit-depth handling must give the input back
    assert np.array_equal(a, a_in) and np.array_equal(b, b_in)
    assert np.abs(c.astype(np.int64) - gray16.astype(np.int64)).max() <= 1
    assert "untrained" in capsys.readouterr().err  # no --weights for a pipeline with parameters


def test_deblur_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _img(tmp_path / "a.png", 0)
    bad_k = _kernel(tmp_path / "k2.npy", scale=2.0)
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--pipeline", str(TINY), "--kernel", str(bad_k)]) == 1
    assert "sums to 2, not 1" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--pipeline", str(TINY),
                 "--kernel", str(bad_k), "--normalize-kernel", "--device", "cpu"]) == 0
    capsys.readouterr()
    # no --pipeline: the bundled blind default, named with its weights
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o2"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "default blind pipeline" in err and "weights:" in err
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    assert main(["deblur", str(tmp_path / "broken.png"), "-o", str(tmp_path / "o"), "--pipeline", str(TINY),
                 "--kernel", str(_kernel(tmp_path / "k.npy"))]) == 1
    assert "corrupt" in capsys.readouterr().err
    (tmp_path / "w.safetensors").write_bytes(b"garbage")
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--pipeline", str(TINY),
                 "--weights", str(tmp_path / "w.safetensors")]) == 1
    assert "safetensors" in capsys.readouterr().err


def test_eval_prints_the_protocol_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        _img(tmp_path / "data" / "blur" / f"{i}.png", i, size=(32, 32))
        _img(tmp_path / "data" / "sharp" / f"{i}.png", 10 + i, size=(32, 32))
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"] = {"test": {"type": "paired", "root": str(tmp_path / "data")}}
    cfg["eval"] = {"protocol": "gopro"}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    # the tiny pipeline is non-blind: give every image the same kernel through the YAML
    _kernel(tmp_path / "k.npy")
    over = ["-o", f"model.blur_estimator.path={tmp_path / 'k.npy'}"]
    code = main(["eval", str(tmp_path / "cfg.yaml"), "--device", "cpu", "--save", str(tmp_path / "saved"), *over])
    out = capsys.readouterr().out
    assert code == 0 and "protocol: gopro" in out and "mean (2 images)" in out
    # the reported PSNR equals scikit-image's on the saved 8-bit outputs (gopro = uint8 rounding)
    refs = [peak_signal_noise_ratio(np.asarray(Image.open(tmp_path / "data" / "sharp" / f"{i}.png")),
                                    np.asarray(Image.open(tmp_path / "saved" / f"{i}.png")), data_range=255) for i in range(2)]
    mean_line = [line for line in out.splitlines() if line.startswith("mean")][0]
    assert float(mean_line.split()[3]) == pytest.approx(np.mean(refs), abs=1e-3)
    assert main(["eval", str(tmp_path / "cfg.yaml"), "--protocol", "gopr", *over]) == 1
    assert "did you mean 'gopro'" in capsys.readouterr().err


def test_deblur_loads_safetensors_weights(tmp_path: Path) -> None:
    """The written output equals the in-process restoration with the same weights."""
    from safetensors.torch import save_file

    from restorekit import load_pipeline
    from restorekit.inference.deblur import deblur_image, load_psf
    from restorekit.inference.imageio import quantize, read_image

    pipe = load_pipeline(TINY)
    g = torch.Generator().manual_seed(0)
    state = {k: (v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v).contiguous()
             for k, v in pipe.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    pipe.load_state_dict(state)
    _img(tmp_path / "a.png", 3, size=(24, 40))
    k = _kernel(tmp_path / "k.npy")
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--pipeline", str(TINY),
                 "--weights", str(tmp_path / "w.safetensors"), "--kernel", str(k), "--device", "cpu"]) == 0
    expected = quantize(deblur_image(pipe, read_image(tmp_path / "a.png")[None], kernel=load_psf(k))[0], 8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), expected)
