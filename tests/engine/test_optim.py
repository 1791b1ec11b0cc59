"""Learning-rate schedules and EMA against closed forms and torch's own schedulers."""

from __future__ import annotations

import math

import pytest
import torch

from restorekit.engine.ema import EMA
from restorekit.engine.optim import build_optimizer, build_scheduler, schedule_lr
from restorekit.engine.settings import TrainSettings


def _lrs_seen_by_optimizer(settings: TrainSettings, total: int, lr: float) -> list[float]:
    """The lr each of ``total`` optimiser steps actually used (through LambdaLR)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], settings, lr)
    sched = build_scheduler(opt, total, lr, settings)
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    return seen


def test_cosine_with_warmup_exact_values():
    s = TrainSettings.from_config({"schedule": "cosine", "warmup_iters": 4, "min_lr": 0.1})
    total, lr = 14, 1.0
    # hand-computed: warm-up (t+1)/4, then 0.1 + 0.9 * 0.5 * (1 + cos(pi * (t-4)/10))
    expected = {0: 0.25, 1: 0.5, 3: 1.0, 4: 1.0, 9: 0.55, 14: 0.1}
    for t, value in expected.items():
        assert schedule_lr(t, total, lr, s) == pytest.approx(value, abs=1e-12)
    seen = _lrs_seen_by_optimizer(s, total, lr)
    for t in range(total):
        ref = (t + 1) / 4 if t < 4 else 0.1 + 0.45 * (1 + math.cos(math.pi * (t - 4) / 10))
        assert seen[t] == pytest.approx(ref, abs=1e-12)


def test_cosine_without_warmup_matches_torch_cosine_annealing():
    s = TrainSettings.from_config({"schedule": "cosine", "min_lr": 1e-3})
    total, lr = 12, 0.05
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=1e-3)
    ref = []
    for _ in range(total):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        ref_sched.step()
    assert _lrs_seen_by_optimizer(s, total, lr) == pytest.approx(ref, abs=1e-12)


def test_step_schedule_matches_torch_multistep_after_warmup():
    s = TrainSettings.from_config({"schedule": "step", "milestones": [5, 8], "gamma": 0.1, "warmup_iters": 2})
    total, lr = 10, 1.0
    seen = _lrs_seen_by_optimizer(s, total, lr)
    assert seen[:2] == pytest.approx([0.5, 1.0])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    ref_sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 8], gamma=0.1)
    ref = []
    for _ in range(total):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        ref_sched.step()
    assert seen[2:] == pytest.approx(ref[2:], abs=1e-12)
    assert seen[-1] == pytest.approx(0.01)


def test_constant_schedule():
    s = TrainSettings.from_config({"schedule": "constant", "warmup_iters": 3})
    assert _lrs_seen_by_optimizer(s, 6, 2.0) == pytest.approx([2 / 3, 4 / 3, 2.0, 2.0, 2.0, 2.0])


def test_adam_and_adamw_are_built_with_the_section_hyperparameters():
    p = torch.nn.Parameter(torch.zeros(2))
    s = TrainSettings.from_config({"optimizer": "adam", "betas": [0.8, 0.99], "weight_decay": 0.01})
    opt = build_optimizer([p], s, 1e-3)
    assert type(opt) is torch.optim.Adam and opt.defaults["betas"] == (0.8, 0.99) and opt.defaults["weight_decay"] == 0.01
    assert type(build_optimizer([p], TrainSettings.from_config({}), 1e-3)) is torch.optim.AdamW


def test_ema_closed_form_on_a_toy_parameter():
    """θ̄_T = d^{T−1} θ_1 + (1 − d) Σ_{t=2}^{T} d^{T−t} θ_t for the sequence θ_t = t²."""
    d, steps = 0.9, 7
    model = torch.nn.Linear(1, 1, bias=False).double()
    ema = EMA(model, d)
    for t in range(1, steps + 1):
        with torch.no_grad():
            model.weight.fill_(float(t * t))
        ema.update(model)
    closed = d ** (steps - 1) * 1.0 + (1 - d) * sum(d ** (steps - t) * t * t for t in range(2, steps + 1))
    assert ema.module.weight.item() == pytest.approx(closed, rel=1e-12)
    assert ema.num_updates == steps
    assert not any(p.requires_grad for p in ema.module.parameters())
