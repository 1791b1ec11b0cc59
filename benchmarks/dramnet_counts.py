"""DRAMNet's parameter and MAC counts beside the spec's and the papers' numbers (no forward pass
at full size: parameters are counted on the ``meta`` device, MACs on fake tensors).

Usage::

    python benchmarks/dramnet_counts.py
"""

from __future__ import annotations

import torch

import restorekit
from restorekit.layers import FCNAFBlock, NAFBlock
from restorekit.plugins.dramnet.counting import count_parameters, subdecoder_macs
from restorekit.plugins.dramnet.depth_anything import DepthAnythingV2, FeatureAdapter
from restorekit.plugins.dramnet.reversible import AdaRevDClassifier, SubDecoder
from restorekit.plugins.dramnet.vit import VARIANTS


def row(what: str, ours: float, ref: float | None, note: str = "") -> None:
    if ref is None:
        print(f"{what:58s} {ours:>16,.0f}   {'':>16s}   {note}")
    else:
        rel = 100 * (ours - ref) / ref
        print(f"{what:58s} {ours:>16,.0f}   {ref:>16,.0f}   {rel:+6.2f} %  {note}")


def main() -> None:
    print(f"{'':58s} {'restorekit':>16s}   {'reference':>16s}")
    with torch.device("meta"):
        for v, total in (("vits", 24_785_089), ("vitb", 97_470_785), ("vitl", 335_315_649)):
            m = DepthAnythingV2(VARIANTS[v])
            row(f"DA-V2-{v[-1].upper()} (encoder + DPT head)", count_parameters(m), total, "spec §1.1")
            if v == "vits":
                row("  backbone (DINOv2 ViT-S/14)", count_parameters(m.pretrained), 22_056_576)
                row("  DPT head", count_parameters(m.depth_head), 2_728_513)
        row("feature adapter (spec §1.7)", count_parameters(FeatureAdapter(384, [64, 128, 256, 512, 1024])), 740_992)
        bme = count_parameters(restorekit.create("dramnet.laplacian_bme"))
        row("BME, tokens 384→64, 4 blocks w64, 3 transitions (adopted)", bme, 440_000, "paper: 0.44 M")
        row("BME, + a 4th transition", count_parameters(restorekit.create("dramnet.laplacian_bme", final_transition=True)), 440_000, "paper: 0.44 M")
        row("BME, RGB at image resolution (input: image)", count_parameters(restorekit.create("dramnet.laplacian_bme", input="image")), 440_000, "paper: 0.44 M")
        row("NAFBlock(64)", count_parameters(NAFBlock(64)), 30_784)
        row("FCNAFBlock(64)", count_parameters(FCNAFBlock(64)), 162_624)
        sub = SubDecoder([512, 256, 128, 64], [8, 4, 2, 1], blur_guided=False)
        row("AdaRevD sub-decoder (FCNAF blocks)", count_parameters(sub), 17_098_496, "spec §3.3")
        dram = SubDecoder([512, 256, 128, 64], [8, 4, 2, 1], blur_guided=True)
        row("DRAMNet sub-decoder (DRAMBlocks)", count_parameters(dram), None, "+ wavelet, mixer, attention")
        row("AdaRevD classifier (hard_simple)", count_parameters(AdaRevDClassifier(512)), 10_001_932)
        dec = restorekit.create("dramnet.reversible")
        row("dramnet.reversible (4 sub-decoders + heads)", count_parameters(dec), None)
    row("AdaRevD sub-decoder MACs at 256² (conv + linear)", subdecoder_macs(), 28.0e9, "spec: ≈ 28.0 G")
    row("DRAMNet sub-decoder MACs at 256² (conv + linear)", subdecoder_macs(blur_guided=True), None)


if __name__ == "__main__":
    main()

# Output (2026-12-01):
#                                                                  restorekit          reference
# DA-V2-S (encoder + DPT head)                                     24,785,089         24,785,089    +0.00 %  spec §1.1
#   backbone (DINOv2 ViT-S/14)                                     22,056,576         22,056,576    +0.00 %
#   DPT head                                                        2,728,513          2,728,513    +0.00 %
# DA-V2-B (encoder + DPT head)                                     97,470,785         97,470,785    +0.00 %  spec §1.1
# DA-V2-L (encoder + DPT head)                                    335,315,649        335,315,649    +0.00 %  spec §1.1
# feature adapter (spec §1.7)                                         740,992            740,992    +0.00 %
# BME, tokens 384→64, 4 blocks w64, 3 transitions (adopted)           432,132            440,000    -1.79 %  paper: 0.44 M
# BME, + a 4th transition                                             469,060            440,000    +6.60 %  paper: 0.44 M
# BME, RGB at image resolution (input: image)                         372,356            440,000   -15.37 %  paper: 0.44 M
# NAFBlock(64)                                                         30,784             30,784    +0.00 %
# FCNAFBlock(64)                                                      162,624            162,624    +0.00 %
# AdaRevD sub-decoder (FCNAF blocks)                               17,098,496         17,098,496    +0.00 %  spec §3.3
# DRAMNet sub-decoder (DRAMBlocks)                                 23,374,295                      + wavelet, mixer, attention
# AdaRevD classifier (hard_simple)                                 10,001,932         10,001,932    +0.00 %
# dramnet.reversible (4 sub-decoders + heads)                      93,504,104
# AdaRevD sub-decoder MACs at 256² (conv + linear)             28,025,638,912     28,000,000,000    +0.09 %  spec: ≈ 28.0 G
# DRAMNet sub-decoder MACs at 256² (conv + linear)             34,487,996,416
