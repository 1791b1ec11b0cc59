"""``SimpleGate``: NAFNet's gate, the product of the two channel halves."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SimpleGate"]


class SimpleGate(nn.Module):
    """``x1 ⊙ x2`` where ``(x1, x2)`` split ``x`` in half along the channels (NAFNet eq. 6).

    Shapes: ``(B, 2C, H, W) → (B, C, H, W)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] % 2:
            raise ValueError(f"SimpleGate needs an even channel count, got {x.shape[1]}")
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2
