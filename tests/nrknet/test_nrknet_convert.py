"""Official-checkpoint converter: strict loading and equivalence with an independent evaluation
of the paper's equations (10)–(11) (see official_reference.py)."""

from __future__ import annotations

import pytest
import torch

import restorekit
from restorekit import InputError
from restorekit.plugins.nrknet.convert import (
    convert_official_state_dict,
    load_official_checkpoint,
    load_official_state_dict,
    main,
    to_official_state_dict,
)

from .official_reference import OFFICIAL_SHAPES, nrknet_reference, random_official_state_dict


def _pipeline(form: str = "reference") -> restorekit.Pipeline:
    return restorekit.load_pipeline(
        {
            "model": {
                "blur_estimator": {"type": "nrknet.coefficients", "form": form, "num_kernels": 21},
                "decoder": {"type": "nrknet.neumann"},
                "operator": {"type": "nrknet.rkr", "form": form, "num_kernels": 21, "backend": "reference"},
            }
        }
    )


@pytest.fixture(scope="module")
def official_file(tmp_path_factory: pytest.TempPathFactory):
    state = random_official_state_dict(seed=3)
    path = tmp_path_factory.mktemp("ckpt") / "NRKNet_epoch1.pth"
    torch.save(state, path)
    return path, state


def test_spec_layout_has_31_keys() -> None:
    assert len(OFFICIAL_SHAPES) == 31


def test_export_of_random_model_has_official_layout() -> None:
    pipe = _pipeline()
    exported = to_official_state_dict(pipe.blur_estimators[0], pipe.operator)
    assert {k: tuple(v.shape) for k, v in exported.items()} == OFFICIAL_SHAPES


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_official_checkpoint_matches_independent_equations(official_file, order: str) -> None:
    path, state = official_file
    pipe = _pipeline()
    load_official_checkpoint(path, pipe.blur_estimators[0], pipe.operator, channel_order=order)  # strict
    pipe = pipe.double().eval()
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, 32, 32, generator=gen, dtype=torch.float64)
    bgr = rgb.flip(1)
    expected, gammas = nrknet_reference(bgr, state)  # the official model sees BGR
    with torch.no_grad():
        if order == "bgr":
            out = pipe({"blurry": bgr})
            got = out.restored
        else:
            out = pipe({"blurry": rgb})
            got = out.restored.flip(1)  # RGB result → BGR to compare
    for g_ours, g_ref in zip(out.estimate.coefficients, gammas):
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-9, atol=1e-9)
    assert (expected - bgr).abs().max() > 1e-3  # the check is not vacuous
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_roundtrip_export_then_load(official_file) -> None:
    _, state = official_file
    pipe = _pipeline()
    load_official_checkpoint(state, pipe.blur_estimators[0], pipe.operator, channel_order="rgb")
    back = to_official_state_dict(pipe.blur_estimators[0], pipe.operator, channel_order="rgb")
    assert set(back) == set(state)
    for k in state:
        torch.testing.assert_close(back[k], state[k], rtol=0, atol=0)


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_official_state_dict(tmp_path / "nope.pth")


def test_missing_and_unexpected_keys_are_named(official_file) -> None:
    _, state = official_file
    pipe = _pipeline()
    broken = {k: v for k, v in state.items() if k != "Encoder.1.layers.0.main.0.main.0.weight"}
    with pytest.raises(InputError, match=r"missing keys \['Encoder.1.layers.0.main.0.main.0.weight'\]"):
        load_official_checkpoint(broken, pipe.blur_estimators[0], pipe.operator)
    extra = {**state, "Decoder.3.weight": torch.zeros(1)}
    with pytest.raises(InputError, match=r"unexpected keys \['Decoder.3.weight'\]"):
        load_official_checkpoint(extra, pipe.blur_estimators[0], pipe.operator)
    foreign = {**state, "head.weight": torch.zeros(1)}
    with pytest.raises(InputError, match="head.weight"):
        convert_official_state_dict(foreign)
    no_op = {k: v for k, v in state.items() if not k.startswith("GCM")}
    with pytest.raises(InputError, match="GCM.kernels"):
        convert_official_state_dict(no_op)


def test_wrong_num_kernels_names_the_fix(official_file) -> None:
    _, state = official_file
    est = restorekit.create("nrknet.coefficients", num_kernels=20)
    op = restorekit.create("nrknet.rkr", num_kernels=20)
    with pytest.raises(InputError, match="num_kernels: 21"):
        load_official_checkpoint(state, est, op)


def test_cli_writes_pipeline_weights(official_file, tmp_path) -> None:
    from safetensors.torch import load_file

    path, _ = official_file
    out = tmp_path / "w.safetensors"
    assert main([str(path), "-o", str(out)]) == 0
    weights = load_file(str(out))
    pipe = _pipeline()
    missing, unexpected = pipe.load_state_dict(weights, strict=False)
    assert not unexpected
    assert not [k for k in missing if k.startswith(("blur_estimators", "operator"))]
