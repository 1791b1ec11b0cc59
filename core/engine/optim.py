"""Optimisers and learning-rate schedules with linear warm-up.

The schedule is a closed-form function of the step ``t`` within a stage (0-based, the lr
used by the ``t``-th optimiser step), applied through :class:`torch.optim.lr_scheduler.LambdaLR`
so that its state is checkpointed like any torch scheduler. A closed form is used instead of
chaining ``LinearLR``/``CosineAnnealingLR`` through ``SequentialLR`` because the chained
schedulers update recursively (accumulating rounding error) and are awkward to restart per
stage; the formulas are the standard ones:

* warm-up (``t < W``): ``lr_t = lr · (t + 1) / W``;
* cosine (SGDR, Loshchilov & Hutter 2017, eq. 5, one cycle):
  ``lr_t = min_lr + (lr − min_lr) · ½ (1 + cos(π · (t − W) / (T − W)))``;
* step: ``lr_t = lr · γ^{#{m ∈ milestones : m ≤ t}}``;
* constant: ``lr_t = lr``.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from .settings import TrainSettings


def build_optimizer(params: Iterable[nn.Parameter], settings: TrainSettings, lr: float) -> torch.optim.Optimizer:
    """Adam or AdamW over ``params`` with the section's betas and weight decay."""
    params = list(params)
    kwargs = dict(lr=lr, betas=tuple(settings.betas), weight_decay=settings.weight_decay)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    return torch.optim.Adam(params, **kwargs)


def schedule_lr(t: int, total: int, base_lr: float, settings: TrainSettings) -> float:
    """Learning rate of step ``t`` (0-based) of a stage of ``total`` steps (closed form)."""
    warm = settings.warmup_iters
    if warm > 0 and t < warm:
        return base_lr * (t + 1) / warm
    if settings.schedule == "constant":
        return base_lr
    if settings.schedule == "step":
        return base_lr * settings.gamma ** sum(1 for m in settings.milestones if m <= t)
    span = max(1, total - warm)
    progress = min(1.0, (t - warm) / span)
    min_lr = min(settings.min_lr, base_lr)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


class StageSchedule:
    """``LambdaLR`` multiplier: ``schedule_lr(t) / base_lr`` (a picklable callable object)."""

    def __init__(self, total: int, base_lr: float, settings: TrainSettings) -> None:
        self.total = int(total)
        self.base_lr = float(base_lr)
        self.settings = settings

    def __call__(self, t: int) -> float:
        return schedule_lr(t, self.total, self.base_lr, self.settings) / self.base_lr

    def state_dict(self) -> dict[str, float]:
        return {"total": self.total, "base_lr": self.base_lr}


def build_scheduler(
    optimizer: torch.optim.Optimizer, total: int, base_lr: float, settings: TrainSettings
) -> torch.optim.lr_scheduler.LambdaLR:
    """A fresh schedule for a stage: sets every group's lr to ``base_lr`` and restarts at t = 0."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr
        group["initial_lr"] = base_lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, StageSchedule(total, base_lr, settings))
