"""LPIPS on randomly initialised weight files in the official / torchvision layouts, checked
against an independent evaluation of paper eq. 1 with forward hooks on the torchvision model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from restorekit import ConfigError
from restorekit.metrics import LPIPS, compute_metrics, load_lpips

ALEX_CHANNELS = (64, 192, 384, 256, 256)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torchvision.models.AlexNet, list[torch.Tensor]]:
    d = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    alex = torchvision.models.alexnet(weights=None).eval()
    torch.save({k: v for k, v in alex.state_dict().items() if k.startswith("features.")}, d / "alexnet.pth")
    lins = [torch.rand(1, c, 1, 1) for c in ALEX_CHANNELS]
    torch.save({f"lin{i}.model.1.weight": w for i, w in enumerate(lins)}, d / "alex.pth")
    return d / "alex.pth", d / "alexnet.pth", alex, lins


def _reference(alex: torchvision.models.AlexNet, lins: list[torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    taps = [1, 4, 7, 9, 11]  # the ReLUs after conv1..conv5 in torchvision's alexnet.features
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def acts(x: torch.Tensor) -> list[torch.Tensor]:
        got: dict[int, torch.Tensor] = {}
        hooks = [alex.features[i].register_forward_hook(lambda m, i_, o, i=i: got.__setitem__(i, o.clone())) for i in taps]
        with torch.no_grad():
            alex.features(((2 * x - 1) - shift) / scale)
        for h in hooks:
            h.remove()
        return [got[i] for i in taps]

    d = torch.zeros(a.shape[0])
    for fa, fb, w in zip(acts(a), acts(b), lins):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        d += ((na - nb) ** 2 * w).sum(1).mean(dim=(1, 2))
    return d


def test_lpips_matches_independent_evaluation(files) -> None:  # type: ignore[no-untyped-def]
    lin_path, backbone_path, alex, lins = files
    metric = LPIPS(str(lin_path), str(backbone_path), net="alex")
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g)
    ours = metric(a, b)
    ref = _reference(alex, lins, a, b)
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-7)
    assert torch.allclose(metric(a, a), torch.zeros(2), atol=1e-9)
    settings = {"metrics": ["psnr", "lpips"], "lpips_net": "alex", "lpips_weights": str(lin_path), "lpips_backbone_weights": str(backbone_path)}
    out = compute_metrics(a, b, settings, lpips=load_lpips(settings))
    assert torch.allclose(out["lpips"].float(), ref, rtol=1e-5)


def test_lpips_file_errors(files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lin_path, backbone_path, _, _ = files
    with pytest.raises(ConfigError, match="two local files"):
        load_lpips({"lpips_weights": str(lin_path)})
    with pytest.raises(ConfigError, match="does not exist"):
        LPIPS(str(tmp_path / "none.pth"), str(backbone_path), net="alex")
    with pytest.raises(ConfigError, match=r"'lin0.model.1.weight' must have shape \(1, 64, 1, 1\)"):
        LPIPS(str(backbone_path), str(backbone_path), net="alex")
    with pytest.raises(ConfigError, match="not a torchvision vgg16"):
        LPIPS(str(lin_path), str(backbone_path), net="vgg")
