"""Training logs (rank 0 only): a tqdm progress bar, TensorBoard scalars and image grids,
and a ``metrics.jsonl`` file (one JSON object per logged event) for scripts and tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping

from torch import Tensor
from torch.nn import functional as F


class RunLogger:
    """Logs to ``<out>/tensorboard`` and ``<out>/metrics.jsonl``; does nothing when ``enabled`` is false."""

    def __init__(
        self, out_dir: Path, total: int, initial: int, enabled: bool, progress: bool = True, purge_step: int | None = None
    ) -> None:
        """``purge_step``: on resume, the first step to log again; TensorBoard hides the events
        of that step and later ones that the interrupted run wrote."""
        self.enabled = enabled
        self.bar: Any = None
        self.writer: Any = None
        self.jsonl: Any = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        out_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=purge_step)
        self.jsonl = (out_dir / "metrics.jsonl").open("a", encoding="utf-8")
        if progress:
            self.bar = tqdm(total=total, initial=initial, desc="train", unit="it", dynamic_ncols=True)

    def step(self, postfix: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if postfix:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def scalars(self, iteration: int, values: Mapping[str, float], kind: str = "train") -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{kind}/{key}", value, iteration)
        record = {"kind": kind, "iteration": iteration, "time": time.time(), **{k: float(v) for k, v in values.items()}}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()

    def images(self, iteration: int, blurry: Tensor, restored: Tensor, sharp: Tensor | None, blur_map: Tensor | None, max_images: int = 4) -> None:
        """One grid per row kind: ``images/blurry``, ``images/restored``, ``images/sharp``, ``images/blur_map``."""
        if not self.enabled:
            return
        from torchvision.utils import make_grid

        n = min(max_images, blurry.shape[0])
        rows = {"blurry": blurry, "restored": restored, "sharp": sharp}
        if blur_map is not None:
            m = blur_map[:n].detach().float()
            m = F.interpolate(m, size=blurry.shape[-2:], mode="nearest")
            rows["blur_map"] = m.expand(-1, blurry.shape[1], -1, -1)
        for name, x in rows.items():
            if x is None:
                continue
            grid = make_grid(x[:n].detach().float().clamp(0, 1).cpu(), nrow=n)
            self.writer.add_image(f"images/{name}", grid, iteration)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if self.jsonl is not None:
            self.jsonl.close()
