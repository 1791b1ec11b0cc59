"""AIBNet MACs (spec §7): the hook counter against the closed form, and the figures at 256²
from the closed form (no full-resolution forward in the suite)."""

from __future__ import annotations

import pytest
import torch

from restorekit.plugins.aibnet.counting import analytic_subdecoder_macs, count_macs, count_parameters
from restorekit.plugins.aibnet.decoder import AIBNetDecoder
from restorekit.plugins.aibnet.encoder import NAFNetEncoder


@pytest.mark.parametrize("options", [{}, {"sfem": False}, {"hfs": False}, {"num_blocks": 2, "num_masks": 2}])
def test_hook_count_equals_closed_form_on_a_small_decoder(options) -> None:
    enc = NAFNetEncoder(width=8, enc_blocks=[1, 1, 1, 1])
    dec = AIBNetDecoder(width=8, num_blocks=options.pop("num_blocks", 1), head_channels=8, **options)
    x = torch.rand(1, 3, 32, 48)
    got = count_macs(dec, x, enc(x))
    want = analytic_subdecoder_macs(32, 48, base=8, num_blocks=dec.num_blocks, head_dim=8,
                                    sfem=options.get("sfem", True), hfs=options.get("hfs", True))
    assert (got.conv, got.attention, got.decoupler) == (want.conv, want.attention, want.decoupler)


def test_hook_counter_sees_every_conv() -> None:
    dec = AIBNetDecoder(width=8, num_blocks=1)
    x = torch.rand(1, 3, 16, 16)
    report = count_macs(dec, x, NAFNetEncoder(width=8, enc_blocks=[1, 1, 1, 1])(x))
    convs = {n for n, m in dec.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert convs <= set(report.per_module)


def test_macs_at_256_per_subdecoder() -> None:
    """Conv MACs 113.87 G per sub-decoder: the paper's 114 G (S), ×2 and ×4 for B and L;
    with the attention products and the Decoupler filter 127.03 G."""
    r = analytic_subdecoder_macs(256, 256)
    assert r.conv == 113_872_440_832
    assert r.attention == 13_086_228_480
    assert r.decoupler == 70_778_880
    assert round(r.conv / 1e9) == 114 and round(2 * r.conv / 1e9) == 228 and round(4 * r.conv / 1e9) == 455


def test_trainable_parameters_under_progressive_training() -> None:
    with torch.device("meta"):
        dec = AIBNetDecoder(variant="L")
    dec.requires_grad_(False)
    dec.subdecoders[2].requires_grad_(True)  # what stage 3 does
    assert count_parameters(dec, trainable_only=True) == 40_971_642
    assert count_parameters(dec) == 4 * 40_971_642
