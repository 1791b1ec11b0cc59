"""``restorekit.layers``: network building blocks shared by several plugins.

In the manner of ``timm/layers``: small modules, one concept each, with documented shapes.
Plugins share blocks through this package and never import each other.

==========================  =================================================================
module                      blocks
==========================  =================================================================
:mod:`.norm`                :class:`LayerNorm2d` (channels-first LayerNorm)
:mod:`.gate`                :class:`SimpleGate` (NAFNet's channel-split product)
:mod:`.channel_attention`   :class:`SimplifiedChannelAttention` (NAFNet's SCA)
:mod:`.nafblock`            :class:`NAFBlock` (NAFNet)
:mod:`.fourier`             :class:`FourierUnit` (AdaRevD's FFT branch), :class:`FCNAFBlock`
:mod:`.wavelet`             :class:`HaarDWT`, :class:`HaarIDWT` (orthonormal Haar on ptwt)
:mod:`.sampling`            :class:`PixelShuffleUpsample`, :class:`StridedConvDownsample`
:mod:`.checks`              :func:`check_image` (input validation with fix-it messages)
==========================  =================================================================
"""

from __future__ import annotations

from .channel_attention import SimplifiedChannelAttention
from .checks import check_image
from .fourier import FCNAFBlock, FourierUnit
from .gate import SimpleGate
from .nafblock import NAFBlock
from .norm import LayerNorm2d
from .sampling import PixelShuffleUpsample, StridedConvDownsample
from .wavelet import HaarDWT, HaarIDWT, haar_dwt2, haar_idwt2

__all__ = [
    "FCNAFBlock",
    "FourierUnit",
    "HaarDWT",
    "HaarIDWT",
    "LayerNorm2d",
    "NAFBlock",
    "PixelShuffleUpsample",
    "SimpleGate",
    "SimplifiedChannelAttention",
    "StridedConvDownsample",
    "check_image",
    "haar_dwt2",
    "haar_idwt2",
]

from .pyramid import feature_pyramid_label, feature_pyramid_spec  # noqa: E402 - appended module

__all__ += ["feature_pyramid_label", "feature_pyramid_spec"]
