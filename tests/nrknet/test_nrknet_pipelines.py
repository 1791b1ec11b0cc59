"""The shipped NRKNet pipelines validate, build with the spec's components and train one step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import restorekit
from restorekit.config import resolve_config

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


@pytest.mark.parametrize(
    ("name", "form", "num_kernels", "g"),
    [("nrknet.yaml", "reference", 21, 22), ("nrknet_paper.yaml", "paper", 20, 20)],
)
def test_pipeline_trains_one_step(name: str, form: str, num_kernels: int, g: int) -> None:
    cfg = resolve_config(PIPELINES / name)
    model = cfg["model"]
    assert model["blur_estimator"]["form"] == model["operator"]["form"] == form
    assert model["operator"]["num_kernels"] == num_kernels
    assert cfg["train"]["optimizer"] == "adam" and cfg["train"]["lr"] == 1e-4 and cfg["train"]["batch_size"] == 4
    assert cfg["data"]["train"]["crop"] == 256
    pipe = restorekit.load_pipeline(PIPELINES / name, overrides=["model.blur_estimator.widths=[4, 8, 8]"])
    torch.manual_seed(0)
    batch = {"blurry": torch.rand(2, 3, 32, 32), "sharp": torch.rand(2, 3, 32, 32)}
    out = pipe(batch)
    assert out.estimate.coefficients[0].shape == (2, g, 32, 32)
    total, parts = pipe.loss(out, batch)
    assert set(parts) == {"nrknet.multiscale", "nrknet.reblur"}
    total.backward()
    assert pipe.operator.state_dict()  # atoms are trainable parameters of the pipeline
    grads = [p.grad for p in pipe.operator.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)


def test_dpdd_schedule_matches_the_official_script() -> None:
    stages = resolve_config(PIPELINES / "nrknet.yaml")["train"]["stages"]
    assert [s["lr"] for s in stages[1:]] == [5e-5, 2.5e-5, 1e-5]
    assert [s["iterations"] // 87 for s in stages] == [2000, 1000, 1000, 1000]  # epochs at 87 steps
    assert all(s["reset_optimizer"] for s in stages[1:])


def test_mismatched_estimator_and_operator_fail_at_build_time():
    """J = 21 reference estimator (22 Γ channels) with a J = 20 paper operator (20): rejected
    when the pipeline is built, before any image is seen."""
    import pytest

    import restorekit
    from restorekit import PipelineError

    cfg = {
        "model": {
            "blur_estimator": {"type": "nrknet.coefficients", "widths": [4, 8, 8], "num_kernels": 21},
            "decoder": {"type": "nrknet.neumann"},
            "operator": {"type": "nrknet.rkr", "form": "paper", "num_kernels": 20},
        }
    }
    with pytest.raises(PipelineError, match="channels 22 where 20 is accepted.*same form and num_kernels"):
        restorekit.load_pipeline(cfg)
