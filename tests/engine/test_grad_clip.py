"""train.grad_clip bounds the gradient norm the optimiser sees (closed-form check)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from restorekit.engine.trainer import Trainer

from .toys import save_pairs


def _norms_seen_by_optimizer(tmp_path: Path, grad_clip: float | None) -> list[float]:
    root = save_pairs(tmp_path / f"train{grad_clip}", 4, seed=0)
    cfg = {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1, "zero_init": False}},
        "losses": [{"type": "standard.mse", "weight": 1000.0}],  # large gradients
        "data": {"train": {"type": "paired", "root": str(root)}},
        "train": {"iterations": 3, "batch_size": 2, "val_every": 0, "checkpoint_every": 0, "grad_clip": grad_clip},
    }
    trainer = Trainer(cfg, None, out_dir=tmp_path / f"run{grad_clip}", device="cpu", progress=False)
    norms: list[float] = []

    def spy(optimizer, args, kwargs):  # runs right before every optimiser step
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(spy)
    try:
        trainer.fit()
    finally:
        handle.remove()
    return norms


def test_grad_clip_bounds_the_global_norm(tmp_path: Path):
    free = _norms_seen_by_optimizer(tmp_path, None)
    clipped = _norms_seen_by_optimizer(tmp_path, 0.5)
    assert len(free) == len(clipped) == 3
    assert max(free) > 0.5, "the unclipped gradients are large enough for the test to mean something"
    assert max(clipped) <= 0.5 * (1 + 1e-5)
