"""Every YAML in pipelines/ validates, builds at full size (on the meta device: parameters counted,
nothing allocated), and runs forward and backward at a tiny size.

Pipelines that name local pretrained files (Depth-Anything-V2, NAFNet, VGG-19) validate
schema-only here, since those files are not on the test machine; their tiny builds set the
paths to null (random initialisation), as the model cards of the bundled models do.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml

import restorekit
from restorekit.config import resolve_config
from restorekit.pipeline import meta_pipeline

from ..conftest import ROOT

YAMLS = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted((ROOT / "pipelines" / "examples").glob("*.yaml"))
FILE_KEYS = ("weights", "teacher_weights")


def _null_files(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every local-file option (weights, teacher_weights) set to null."""
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                if k in FILE_KEYS and isinstance(node[k], str):
                    node[k] = None
                else:
                    walk(node[k])
        elif isinstance(node, list):
            for v in node:
                walk(v)

    out = copy.deepcopy(cfg)
    walk(out)
    return out


def _has_files(cfg: dict[str, Any]) -> bool:
    return _null_files(cfg) != cfg


def _set(cfg: dict[str, Any], path: str, value: Any) -> None:
    node: Any = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _by_type(cfg: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    model = cfg["model"]
    out = []
    for v in model.values():
        for spec in v if isinstance(v, list) else [v]:
            if spec.get("type") == type_name:
                out.append(spec)
    return out


def _shrink(cfg: dict[str, Any]) -> dict[str, Any]:
    """Tiny widths for a CPU forward/backward; keeps every component and its structure."""
    cfg = _null_files(cfg)
    for s in _by_type(cfg, "aibnet.nafnet_encoder"):
        s.update(width=8, enc_blocks=[1, 1, 1, 1], middle_blocks=1)
    for s in _by_type(cfg, "aibnet.decoder"):
        s.update(width=8, num_blocks=1)
        enc = cfg["model"].get("encoder", {})
        if enc.get("type") != "aibnet.nafnet_encoder":
            s.update(feature_adapter="conv1x1", feature_channels=[4, 8, 16, 32, 64])
    for s in _by_type(cfg, "dramnet.depth_anything"):
        s.update(variant="tiny", channels=[4, 8, 16, 32, 64])
    for s in _by_type(cfg, "dramnet.laplacian_bme"):
        s.update(width=8)
        if s.get("input", "tokens") == "tokens":
            s.update(in_channels=64)
    for s in _by_type(cfg, "dramnet.reversible"):
        nafnet = cfg["model"].get("encoder", {}).get("type") == "aibnet.nafnet_encoder"
        s.update(channels=[64, 32, 16, 8] if nafnet else [32, 16, 8, 4])  # the pyramid of a width-8 NAFNet encoder
    for s in _by_type(cfg, "nrknet.coefficients"):
        s.update(widths=[4, 8, 8])
    for s in _by_type(cfg, "standard.simple_encoder"):
        s.update(widths=[4, 8, 16])
    for s in _by_type(cfg, "standard.unet") + _by_type(cfg, "standard.chained_unet"):
        s.update(width=4)
        if "feature_channels" in s:
            s.update(feature_channels=[4, 8, 16])
    for s in _by_type(cfg, "svmap.irls") + _by_type(cfg, "svmap.simap"):
        s.update(cg_iterations=3)
    for s in _by_type(cfg, "svmap.levin_irls"):
        s.update(max_it=5)
    for s in cfg.get("losses", []):
        if s.get("type") in ("dramnet.silog", "dramnet.depth_ssim"):
            s["teacher_variant"] = "tiny"
    return cfg


def _batch(size: int, with_kernel: bool) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    sharp = torch.rand(2, 3, size, size, generator=gen)
    k = torch.ones(1, 1, 5, 5) / 25
    blurry = torch.nn.functional.conv2d(torch.nn.functional.pad(sharp, (2, 2, 2, 2), mode="reflect"), k.expand(3, 1, 5, 5), groups=3)
    batch = {"sharp": sharp, "blurry": (blurry + 0.01 * torch.randn(blurry.shape, generator=gen)).clamp(0, 1)}
    if with_kernel:
        batch["kernel"] = k.expand(2, 1, 5, 5).clone()
    return batch


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(ROOT / "pipelines")))
def test_pipeline_validates_builds_at_full_size_and_trains_tiny(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    resolved = resolve_config(raw)  # schema, names, sections (the CLI's `config validate --schema-only`)
    if not _has_files(raw):
        resolved = resolve_config(path)  # from the file itself, as `restorekit config validate` does
    full = meta_pipeline(resolve_config(_null_files(raw)))
    assert full is not None, f"{path.name} does not build on the meta device"
    n_full = sum(p.numel() for p in full.parameters())

    tiny_cfg = _shrink(raw)
    pipe = restorekit.load_pipeline(tiny_cfg)
    pipe.train()
    m = pipe.size_multiple
    size = max(32, -(-64 // m) * m) if m <= 64 else m
    needs_kernel = "kernel" in pipe.available and any("kernel" in r for est in pipe.blur_estimators for r in est.provides)
    batch = _batch(size, needs_kernel)
    batch["blurry"].requires_grad_(True)
    out = pipe(batch)
    assert out.restored.shape == batch["sharp"].shape and torch.isfinite(out.restored).all()
    params = [p for p in pipe.parameters() if p.requires_grad]
    if pipe.losses.losses:
        loss, _ = pipe.loss(out, batch)
    else:
        loss = (out.restored - batch["sharp"]).square().mean()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    if params and n_full:
        assert grads and any(torch.any(g != 0) for g in grads), f"{path.name}: no gradient reaches the trainable parameters"
        assert all(torch.isfinite(g).all() for g in grads)
    else:  # classical solvers: differentiable in the input
        assert batch["blurry"].grad is not None and torch.isfinite(batch["blurry"].grad).all()
    assert resolved["model"]["decoder"]["type"] == raw["model"]["decoder"]["type"]
