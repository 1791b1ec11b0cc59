"""The Trainer in-process: bit-exact resume, stages, progressive sub-decoders, AMP, accumulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from restorekit import ConfigError
from restorekit.engine import checkpoint as ckpt
from restorekit.engine.trainer import Trainer

from .toys import BoxBlurPairs, register_toys

UNET = {"type": "standard.unet", "width": 4, "depth": 1}


def _config(train: dict[str, Any], model: dict[str, Any] | None = None, losses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": model or {"decoder": dict(UNET)},
        "losses": losses or [{"type": "standard.l1"}],
        "train": {"batch_size": 4, "lr": 3e-3, "log_every": 1, **train},
    }


def _trainer(cfg: dict[str, Any], out: Path, **kwargs: Any) -> Trainer:
    return Trainer(cfg, out_dir=out, train_dataset=BoxBlurPairs(12), progress=False, **kwargs)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


RESUME_TRAIN = {
    "ema": 0.8,
    "grad_clip": 0.5,
    "warmup_iters": 1,
    "checkpoint_every": 2,
    "weight_decay": 1e-3,
    "stages": [
        {"name": "a", "iterations": 4},
        {"name": "b", "iterations": 4, "lr": 1e-3, "reset_optimizer": True},
    ],
}


@pytest.mark.parametrize("interruption", ["writer_crash", "stop_after"])
def test_resume_reproduces_uninterrupted_run_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interruption: str):
    """12 samples / batch 4: the interrupted checkpoint lies mid-epoch and on a stage boundary;
    dropout makes the result depend on the restored RNG state too."""
    register_toys()
    cfg = _config(RESUME_TRAIN, model={"decoder": {"type": "enginetest.chain", "n": 2, "dropout": 0.3}})
    full = _trainer(cfg, tmp_path / "full")
    full.fit()

    out = tmp_path / "interrupted"
    if interruption == "writer_crash":
        real_save = ckpt.torch.save

        def crash_at_6(obj: Any, f: Any, *a: Any, **k: Any) -> None:
            if obj.get("iteration") == 6:
                Path(f).write_bytes(b"partial")
                raise OSError("simulated crash while writing the iteration-6 checkpoint")
            real_save(obj, f, *a, **k)

        monkeypatch.setattr(ckpt.torch, "save", crash_at_6)
        with pytest.raises(OSError, match="simulated crash"):
            _trainer(cfg, out).fit()
        monkeypatch.undo()
        assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["iter_00000002", "iter_00000004"]
    else:
        summary = _trainer(cfg, out, stop_after=5).fit()
        assert summary["iteration"] == 5 and (out / "checkpoints" / "iter_00000005").is_dir()
    resumed = _trainer(cfg, out, resume="auto")
    assert resumed.iteration == (4 if interruption == "writer_crash" else 5)
    resumed.fit()
    a, b = _snapshot(full.pipeline), _snapshot(resumed.pipeline)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    for k, v in _snapshot(full.ema.module).items():
        assert torch.equal(v, _snapshot(resumed.ema.module)[k]), f"EMA {k} differs after resume"
    # the logged losses of the steps the resumed run made are the same numbers
    tail = {h["iteration"]: h["loss"] for h in resumed.history}
    assert tail == {h["iteration"]: h["loss"] for h in full.history if h["iteration"] in tail}


def test_frozen_then_unfrozen_encoder_and_per_stage_losses(tmp_path: Path):
    model = {
        "encoder": {"type": "standard.simple_encoder", "widths": [4, 8]},
        "decoder": {**UNET, "use_features": True},
    }
    losses = [{"type": "standard.l1", "name": "pixel"}, {"type": "standard.fft_l1", "weight": 0.1}]
    cfg = _config(
        {"stages": [
            {"name": "decoder_only", "iterations": 3, "frozen": ["encoder"], "losses": ["pixel"]},
            {"name": "end_to_end", "iterations": 3},
        ]},
        model=model,
        losses=losses,
    )
    seen: list[tuple[int, dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []
    trainer = _trainer(cfg, tmp_path, callbacks=[lambda t: seen.append((t.iteration, _snapshot(t.pipeline.encoder), _snapshot(t.pipeline.decoder)))])
    enc0, dec0 = _snapshot(trainer.pipeline.encoder), _snapshot(trainer.pipeline.decoder)
    trainer.fit()
    changed = lambda a, b: any(not torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    for it, enc, dec in seen[:3]:
        assert not changed(enc0, enc), f"the frozen encoder changed at iteration {it}"
        assert changed(dec0, dec)
    assert changed(enc0, seen[-1][1]), "the encoder trains once unfrozen"
    parts = {h["iteration"]: {k for k in h if k.startswith("loss/")} for h in trainer.history}
    assert parts[1] == parts[3] == {"loss/pixel"}
    assert parts[4] == parts[6] == {"loss/pixel", "loss/standard.fft_l1"}


def test_progressive_training_changes_only_the_active_subdecoder(tmp_path: Path):
    register_toys()
    n = 3
    # sub-decoder i's own output is intermediates[n-1-i] (last first)
    losses = [{"type": "enginetest.intermediate_l1", "index": n - 1 - i, "name": f"s{i}"} for i in range(n)]
    stages = [
        {"name": f"sub{i}", "iterations": 2, "trainable": [f"decoder.subdecoders.{i}"], "losses": [f"s{i}"], "reset_optimizer": True}
        for i in range(n)
    ]
    cfg = _config({"stages": stages}, model={"decoder": {"type": "enginetest.chain", "n": n}}, losses=losses)
    trainer = _trainer(cfg, tmp_path)
    subs = trainer.pipeline.decoder.subdecoders
    snaps = [[_snapshot(s) for s in subs]]
    trainer.callbacks.append(lambda t: snaps.append([_snapshot(s) for s in subs]) if t.iteration % 2 == 0 else None)
    trainer.fit()
    for stage in range(n):
        before, after = snaps[stage], snaps[stage + 1]
        for i in range(n):
            moved = any(not torch.equal(before[i][k], after[i][k]) for k in before[i])
            assert moved == (i == stage), f"stage {stage}: sub-decoder {i} {'changed' if moved else 'did not change'}"
    assert {k for h in trainer.history for k in h if k.startswith("loss/")} == {"loss/s0", "loss/s1", "loss/s2"}


def test_amp_bf16_on_cpu_runs_forward_in_bf16_and_losses_in_fp32(tmp_path: Path):
    losses = [{"type": "standard.l1"}, {"type": "standard.fft_l1", "weight": 0.1}, {"type": "standard.ssim", "weight": 0.1}]
    trainer = _trainer(_config({"amp": "bf16", "iterations": 3}, losses=losses), tmp_path, device="cpu")
    dtypes: set[torch.dtype] = set()
    first_conv = next(m for m in trainer.pipeline.decoder.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, o: dtypes.add(o.dtype))
    before = _snapshot(trainer.pipeline)
    summary = trainer.fit()
    assert dtypes == {torch.bfloat16}
    assert torch.isfinite(torch.tensor(summary["loss"]))
    assert all(p.dtype == torch.float32 for p in trainer.pipeline.parameters())
    assert any(not torch.equal(before[k], v) for k, v in _snapshot(trainer.pipeline).items())


def test_gradient_accumulation_equals_the_larger_batch(tmp_path: Path):
    """2 micro-batches of 2 = 1 batch of 4 (same samples: the order is fixed by the seed)."""
    big = _trainer(_config({"iterations": 3, "batch_size": 4}), tmp_path / "big")
    big.fit()
    acc = _trainer(_config({"iterations": 3, "batch_size": 2, "grad_accum": 2}), tmp_path / "acc")
    acc.fit()
    for k, v in _snapshot(big.pipeline).items():
        torch.testing.assert_close(_snapshot(acc.pipeline)[k], v, rtol=1e-4, atol=1e-6)
    assert [h["loss"] for h in acc.history] == pytest.approx([h["loss"] for h in big.history], rel=1e-5)


def test_stage_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"'encodr' is not a component path; did you mean 'encoder'"):
        _trainer(_config({"stages": [{"frozen": ["encodr"]}]}, model={"encoder": {"type": "standard.simple_encoder", "widths": [4, 8]}, "decoder": dict(UNET)}), tmp_path)
    with pytest.raises(ConfigError, match=r"'decoder' has no sub-module 'hed'; did you mean 'head'"):
        _trainer(_config({"stages": [{"trainable": ["decoder.hed"]}]}), tmp_path)
    with pytest.raises(ConfigError, match=r"no loss named or typed 'l2'"):
        _trainer(_config({"stages": [{"losses": ["l2"]}]}), tmp_path)
    with pytest.raises(ConfigError, match="no parameter is trainable"):
        _trainer(_config({"iterations": 1, "stages": [{"frozen": ["decoder"]}]}), tmp_path).fit()


def test_validation_psnr_rises_in_process(tmp_path: Path):
    """The zero-initialised residual U-Net starts as the identity, so the starting PSNR is the
    blurry inputs' own PSNR, computed here independently with scikit-image."""
    from skimage.metrics import peak_signal_noise_ratio

    val = BoxBlurPairs(4, seed=1, box=5)
    before = sum(
        peak_signal_noise_ratio(val[i]["sharp"].numpy().astype("float64"), val[i]["blurry"].numpy().astype("float64"), data_range=1.0)
        for i in range(len(val))
    ) / len(val)
    cfg = _config({"iterations": 40, "lr": 1e-2, "warmup_iters": 5, "val_every": 20}, model={"decoder": {**UNET, "width": 8}})
    trainer = Trainer(cfg, out_dir=tmp_path, train_dataset=BoxBlurPairs(16, box=5), val_dataset=val, progress=False)
    assert trainer.validate()["psnr"] == pytest.approx(before, abs=1e-4)
    summary = trainer.fit()
    assert summary["val"]["psnr"] > before + 0.3, (before, summary["val"])
