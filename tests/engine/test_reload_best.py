"""``reload_best: true`` on a stage: at the start of that stage the trainer loads the weights
of the periodic validation (``train.val_every``) with the best PSNR so far (as the official
NRKNet training does at each learning-rate step); resume stays bit-exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from restorekit import ConfigError
from restorekit.engine.trainer import Trainer

from .toys import BoxBlurPairs, register_toys

PSNR = {2: 30.0, 4: 20.0, 6: 35.0, 8: 10.0}
"""Made-up validation PSNR per iteration: the best before stage 'b' (iteration 4) is at 2."""


def _cfg(**train: Any) -> dict[str, Any]:
    return {
        "model": {"decoder": {"type": "enginetest.chain", "n": 2, "dropout": 0.3}},
        "losses": [{"type": "standard.l1"}],
        "train": {
            "batch_size": 4, "lr": 3e-3, "log_every": 1, "val_every": 2, "checkpoint_every": 3, "ema": 0.8,
            "stages": [
                {"name": "a", "iterations": 4},
                {"name": "b", "iterations": 4, "lr": 1e-3, "reset_optimizer": True, "reload_best": True},
            ],
            **train,
        },
    }


def _trainer(out: Path, cfg: dict[str, Any] | None = None, **kwargs: Any) -> Trainer:
    register_toys()
    return Trainer(cfg or _cfg(), out_dir=out, train_dataset=BoxBlurPairs(12), val_dataset=BoxBlurPairs(4, seed=1),
                   progress=False, **kwargs)


@pytest.fixture()
def fake_validation(monkeypatch: pytest.MonkeyPatch) -> dict[int, dict[str, torch.Tensor]]:
    """Validation returns PSNR[iteration] and records the weights it validated (the EMA's)."""
    seen: dict[int, dict[str, torch.Tensor]] = {}

    def validate(self: Trainer) -> dict[str, float]:
        seen[self.iteration] = {k: v.detach().clone() for k, v in self.ema.module.state_dict().items()}
        return {"psnr": PSNR.get(self.iteration, 0.0), "ssim": 0.5}

    monkeypatch.setattr(Trainer, "validate", validate)
    return seen


def test_stage_starts_from_the_best_validated_weights(tmp_path: Path, fake_validation: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = _trainer(tmp_path / "run")
    entered: dict[int, dict[str, torch.Tensor]] = {}
    entered_ema: dict[int, dict[str, torch.Tensor]] = {}
    real_enter = Trainer._enter_stage

    def enter(self: Trainer, plan: Any, reload: bool = False) -> None:
        real_enter(self, plan, reload=reload)
        entered[plan.index] = {k: v.detach().clone() for k, v in self.pipeline.state_dict().items()}
        entered_ema[plan.index] = {k: v.detach().clone() for k, v in self.ema.module.state_dict().items()}

    monkeypatch.setattr(Trainer, "_enter_stage", enter)
    trainer.fit()
    best = fake_validation[2]  # PSNR 30 at iteration 2 beats 20 at iteration 4
    assert not all(torch.equal(best[k], fake_validation[4][k]) for k in best)  # the test can tell them apart
    for k, v in best.items():
        assert torch.equal(entered[1][k], v), k
        assert torch.equal(entered_ema[1][k], v), f"EMA {k}"  # the EMA restarts from the reloaded weights
    assert trainer.best is not None and trainer.best.iteration == 6 and trainer.best.psnr == 35.0


@pytest.mark.parametrize("stop", [3, 4, 5])
def test_resume_with_reload_best_is_bit_exact(tmp_path: Path, fake_validation: dict, stop: int) -> None:
    full = _trainer(tmp_path / "full")
    full.fit()
    _trainer(tmp_path / "split", stop_after=stop).fit()
    resumed = _trainer(tmp_path / "split", resume="auto")
    assert resumed.iteration == stop
    resumed.fit()
    for k, v in full.pipeline.state_dict().items():
        assert torch.equal(v, resumed.pipeline.state_dict()[k]), f"{k} differs after resume at {stop}"
    for k, v in full.ema.module.state_dict().items():
        assert torch.equal(v, resumed.ema.module.state_dict()[k]), f"EMA {k} differs after resume at {stop}"


def test_reload_best_with_real_validation_runs(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "run", cfg=_cfg(ema=None))
    trainer.fit()
    assert trainer.best is not None and trainer.best.iteration in (2, 4, 6, 8)
    assert "psnr" in trainer.last_val


@pytest.mark.parametrize("change,needle", [
    ({"val_every": 0}, "val_every"),
    ({"val_every": 5}, "no validation runs before"),
    ({"stages": [{"name": "a", "iterations": 2, "reload_best": True}]}, "first stage"),
])
def test_reload_best_without_a_validation_before_the_stage_is_a_config_error(change: dict, needle: str) -> None:
    from restorekit.config import resolve_config

    with pytest.raises(ConfigError, match=needle):
        resolve_config(_cfg(**change))


def test_reload_best_needs_a_validation_set(tmp_path: Path) -> None:
    register_toys()
    with pytest.raises(ConfigError, match="data.val"):
        Trainer(_cfg(), out_dir=tmp_path / "run", train_dataset=BoxBlurPairs(12), progress=False)
