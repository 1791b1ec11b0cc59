"""The trainer tells epoch-aware losses (``set_epoch``) the data stream's epoch."""

from __future__ import annotations

from pathlib import Path

from restorekit.engine.trainer import Trainer

from .toys import save_pairs


def test_losses_with_set_epoch_follow_the_data_epochs(tmp_path: Path):
    root = save_pairs(tmp_path / "train", 4, seed=0)
    cfg = {
        "model": {"decoder": {"type": "standard.unet", "width": 4, "depth": 1}},
        "losses": [{"type": "standard.l1"}],
        "data": {"train": {"type": "paired", "root": str(root)}},
        "train": {"iterations": 5, "batch_size": 2, "val_every": 0, "checkpoint_every": 0},
    }
    trainer = Trainer(cfg, None, out_dir=tmp_path / "run", device="cpu", progress=False)
    seen: list[int] = []
    trainer.pipeline.losses.losses[0].set_epoch = seen.append  # an epoch-aware loss
    trainer.fit()
    # 4 images, batch 2 → 2 batches per epoch: iterations 1..5 are in epochs 0,0,1,1,2
    assert seen == [0, 0, 1, 1, 2]
