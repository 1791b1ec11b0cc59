"""``standard.chained_unet``: several residual U-Nets applied one after another.

The generic form of a progressively trained decoder (AIBNet trains its chained
sub-decoders one at a time, aibnet.md §5–6): sub-decoder ``n`` refines the output of
sub-decoder ``n − 1``. The sub-decoders are exposed as ``self.subdecoders`` (an
``nn.ModuleList``) so training stages can address them as ``decoder.subdecoders.N``.
"""

from __future__ import annotations

from torch import Tensor, nn

from restorekit import BlurEstimate, Decoder, DecoderOutput, Features, Operator
from restorekit.errors import ConfigError

from .unet import UNet


class ChainedUNet(Decoder):
    """N residual U-Nets in sequence: ``x_0 = image``, ``x_n = U_n(x_{n−1})``, restored ``= x_N``.

    ``DecoderOutput.intermediates`` lists the sub-decoder outputs **last first**
    ``[x_N, …, x_1]`` (each ``(B, C, H, W)``), as the interface orders them, so a loss with
    ``target: intermediates`` and one-hot ``scale_weights`` supervises one sub-decoder.
    Every sub-decoder is a :class:`~restorekit.plugins.standard.networks.unet.UNet` with the
    same options; with ``zero_init`` (default) each starts as the identity, so adding a
    sub-decoder never changes what the earlier ones produce. Encoder features and the blur
    map (when enabled) are given to every sub-decoder.
    """

    def __init__(
        self,
        num_subdecoders: int = 2,
        in_channels: int = 3,
        width: int = 16,
        depth: int = 2,
        use_features: bool = False,
        use_blur_map: bool = False,
        feature_channels: list[int] | None = None,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        if num_subdecoders < 1:
            raise ConfigError(f"standard.chained_unet: num_subdecoders must be ≥ 1, got {num_subdecoders}")
        self.subdecoders = nn.ModuleList(
            UNet(in_channels, width, depth, use_features, use_blur_map, feature_channels, zero_init)
            for _ in range(num_subdecoders)
        )
        first = self.subdecoders[0]
        self.requires = first.requires
        self.size_multiple = first.size_multiple

    def forward(
        self,
        image: Tensor,
        features: Features | None,
        estimate: BlurEstimate | None,
        operator: Operator | None,
    ) -> DecoderOutput:
        """``image`` ``(B, C, H, W)`` → the last sub-decoder's output and all of them."""
        x = image
        outputs: list[Tensor] = []
        for sub in self.subdecoders:
            x = sub(x, features, estimate, operator).restored
            outputs.append(x)
        return DecoderOutput(restored=x, intermediates=outputs[::-1])
