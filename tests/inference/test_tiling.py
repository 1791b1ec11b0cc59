"""Tiled inference equals untiled inference when the receptive field fits in the guard band."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restorekit import DecoderOutput, Pipeline
from restorekit.interfaces import Decoder
from restorekit.inference.deblur import deblur_image, pad_to_multiple
from restorekit.inference.tiling import feather_window, ramp, tile_starts, tiled_apply


class ConvDecoder(Decoder):
    """Fixed random convolutions (zero padding): receptive-field radius = layers × 2 for 5×5."""

    requires = frozenset()
    provides = frozenset()

    def __init__(self, layers: int = 2, kernel: int = 5, multiple: int = 1, channels: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel, padding=kernel // 2) for _ in range(layers))
        for c in self.convs:
            c.weight.data = torch.randn(c.weight.shape, generator=g) / (channels * kernel * kernel)
            c.bias.data = torch.randn(c.bias.shape, generator=g) * 0.1
        self.size_multiple = multiple
        self.seen: list[tuple[int, int]] = []

    def forward(self, image, features, estimate, operator):  # type: ignore[override]
        self.seen.append(tuple(image.shape[-2:]))
        x = image
        for c in self.convs:
            x = c(x)
        return DecoderOutput(restored=x)


def test_tiled_equals_untiled_for_receptive_field_within_guard() -> None:
    pipe = Pipeline(decoder=ConvDecoder(layers=2))  # radius 4 = overlap // 4 for overlap 16
    x = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(1))
    full = deblur_image(pipe, x)
    tiled = deblur_image(pipe, x, tile=32, overlap=16)
    assert tiled.shape == full.shape == x.shape
    assert (tiled - full).abs().max().item() < 1e-4
    # The check can fail: without overlap the tile seams differ from the untiled result.
    seams = deblur_image(pipe, x, tile=32, overlap=0)
    assert (seams - full).abs().max().item() > 1e-2


def test_window_is_a_partition_of_unity_for_exact_overlap() -> None:
    overlap, size = 16, 40
    a = ramp(size, overlap, rise_start=False, rise_end=True, dtype=torch.float64)
    b = ramp(size, overlap, rise_start=True, rise_end=False, dtype=torch.float64)
    total = a[size - overlap :] + b[:overlap]
    assert torch.allclose(total, torch.ones(overlap, dtype=torch.float64), atol=1e-12)
    assert (b[: overlap // 4] == 0).all() and (b[overlap // 4 : overlap - overlap // 4] > 0).all()
    w = feather_window(8, 8, 0, True, True, True, True)
    assert torch.equal(w, torch.ones(8, 8))


def test_tile_starts_cover_the_image() -> None:
    for length, tile, overlap in [(100, 32, 8), (32, 32, 8), (20, 32, 8), (1000, 256, 64)]:
        starts = tile_starts(length, tile, overlap)
        covered = torch.zeros(length, dtype=torch.bool)
        for s in starts:
            covered[s : s + tile] = True
        assert covered.all() and starts[-1] + min(tile, length) == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_any_size_is_padded_to_the_multiple_and_cropped_back() -> None:
    dec = ConvDecoder(layers=1, multiple=8)
    pipe = Pipeline(decoder=dec)
    x = torch.rand(1, 3, 37, 45)
    out = deblur_image(pipe, x)
    assert out.shape == x.shape and dec.seen[-1] == (40, 48)
    out_t = deblur_image(pipe, x, tile=16, overlap=8)
    assert out_t.shape == x.shape and all(h % 8 == 0 and w % 8 == 0 for h, w in dec.seen)
    padded, size = pad_to_multiple(torch.arange(6.0).view(1, 1, 2, 3), 4)
    assert size == (2, 3) and padded.shape[-2:] == (4, 4)
    assert torch.equal(pad_to_multiple(torch.arange(12.0).view(1, 1, 3, 4), 4)[0][0, 0, 3], torch.tensor([4.0, 5, 6, 7]))


def test_bad_tiling_arguments() -> None:
    from restorekit import InputError

    with pytest.raises(InputError, match="overlap"):
        tiled_apply(lambda t: t, torch.rand(1, 1, 10, 10), tile=8, overlap=8)


@pytest.mark.slow
def test_large_image_through_tiles_on_cpu() -> None:
    """4000×3000 RGB through the tiled path with a cheap model, checked in a window."""
    pipe = Pipeline(decoder=ConvDecoder(layers=1, kernel=3))
    x = torch.rand(1, 3, 3000, 4000, generator=torch.Generator().manual_seed(3))
    out = deblur_image(pipe, x, tile=1024, overlap=32)
    assert out.shape == x.shape
    conv = pipe.decoder.convs[0]
    with torch.no_grad():  # untiled reference on a window straddling tile seams (rows 990-1010, cols 980-1000)
        ref = conv(x[..., 980:1030, 960:1020])[..., 10:30, 20:40]
    assert (out[..., 990:1010, 980:1000] - ref).abs().max().item() < 1e-4
