"""Exponential moving average of the weights, on :class:`torch.optim.swa_utils.AveragedModel`.

After every optimiser step ``θ̄ ← d · θ̄ + (1 − d) · θ`` (Polyak averaging with decay ``d``);
the first update copies ``θ`` (``θ̄_1 = θ_1``), so after ``T`` updates

    θ̄_T = d^{T−1} θ_1 + (1 − d) Σ_{t=2}^{T} d^{T−t} θ_t.

Buffers (e.g. BatchNorm statistics) are copied from the model, not averaged
(``use_buffers=False``), because integer buffers cannot be interpolated.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class EMA:
    """An EMA copy of ``model`` (``model`` is the bare module, never a DDP wrapper).

    Attributes:
        decay: the EMA decay ``d``.
        averaged: the :class:`AveragedModel`; ``averaged.module`` is the averaged network.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=False)
        self.averaged.requires_grad_(False)
        self.averaged.eval()

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model``'s current weights."""
        self.averaged.update_parameters(model)

    @property
    def num_updates(self) -> int:
        return int(self.averaged.n_averaged.item())

    def state_dict(self) -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in self.averaged.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(copy.copy(state))
