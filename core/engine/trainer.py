"""The :class:`Trainer`: runs the ``train:`` section of a pipeline YAML.

One *iteration* is one optimiser step over ``train.grad_accum`` forward/backward passes of
one global batch each. Per step (``L`` the weighted sum of the stage's active losses)::

    for each micro-batch:  backward(scale · L / grad_accum)     # forward under autocast
    unscale, clip ‖g‖₂ ≤ grad_clip, optimiser step (Adam/AdamW), lr schedule step, EMA update

Mixed precision: the pipeline's forward runs under :func:`torch.autocast` (bf16 or fp16;
operators with ``amp_safe = False`` switch it off themselves); the losses run in float32
on a float32 copy of the output, so no loss ever sees a bf16/fp16 tensor.

Checkpoints (rank 0, atomic, see :mod:`.checkpoint`) carry everything needed to continue
bit-exactly on the CPU: weights, optimiser, schedule, scaler, EMA, the Python/NumPy/torch
RNG states, the data position, the iteration and (with ``reload_best``) the best validation
so far with its weights.

A run folder belongs to one run: a folder that already holds files is only used with
``resume`` (``--resume auto``) or ``overwrite`` (``--overwrite``, which replaces the run's
own files and leaves any others). Resuming rewinds ``metrics.jsonl`` and the TensorBoard
events to the checkpoint's iteration, so no step is logged twice. A full disk stops the run
with one message that says what was being written and which checkpoint was kept.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset

from ..config import dump_yaml, resolve_config
from ..errors import ConfigError, OutputError, is_disk_full, os_error_text
from ..pipeline import Pipeline, build_pipeline, check_memory
from ..plugin_host import get_host
from . import checkpoint as ckpt
from . import distributed
from .data_stream import BatchStream, default_collate, split_indices, to_device
from .ema import EMA
from .logging import RunLogger
from .optim import build_optimizer, build_scheduler
from .reproducibility import rng_state, seed_everything, set_rng_state, to_float32
from .settings import TrainSettings
from .stages import Freezer, StagePlan, plan_stages

Callback = Callable[["Trainer"], None]

RUN_FILES = ("checkpoints", "tensorboard", "metrics.jsonl", "config.yaml", "model.safetensors")
"""What a run writes into its folder (``--overwrite`` replaces exactly these)."""


@dataclass
class BestValidation:
    """The periodic validation with the highest PSNR so far (for ``reload_best``)."""

    iteration: int
    psnr: float
    weights: dict[str, Any]


class Trainer:
    """Trains a pipeline from its YAML (a path or a dict).

    Args:
        config: pipeline YAML path or mapping (with ``model``, ``losses``, ``data``, ``train``).
        overrides: dotted overrides (``["train.lr=1e-4"]``).
        out_dir: run directory: ``checkpoints/``, ``tensorboard/``, ``metrics.jsonl``,
            ``config.yaml`` and the final ``model.safetensors``.
        resume: ``None``, ``"auto"`` (newest complete checkpoint in ``out_dir``) or a path.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (under torchrun: the local rank's GPU).
        train_dataset, val_dataset: datasets to use instead of building them from ``data:``.
        stop_after: stop (with a checkpoint) once this global iteration is reached, e.g. to
            split a long run into jobs; ``--resume auto`` continues it.
        callbacks: called as ``cb(trainer)`` after every iteration (tests, custom logging).
        progress: show the tqdm bar (rank 0).
        overwrite: replace the run files (:data:`RUN_FILES`) of a previous run in ``out_dir``;
            without it (and without ``resume``) a non-empty ``out_dir`` is an error.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any],
        overrides: list[str] | Mapping[str, Any] | None = None,
        out_dir: str | Path = "runs/train",
        resume: str | None = None,
        device: str = "auto",
        train_dataset: Dataset | None = None,
        val_dataset: Dataset | None = None,
        stop_after: int | None = None,
        callbacks: list[Callback] | None = None,
        progress: bool = True,
        overwrite: bool = False,
    ) -> None:
        self.config = resolve_config(config, overrides)
        self.settings = TrainSettings.from_config(self.config.get("train"))
        self.out_dir = Path(out_dir)
        if overwrite and resume is not None:
            raise ConfigError("--overwrite and --resume contradict each other: --resume continues the run in --out, --overwrite replaces it")
        if resume is None and not overwrite:
            _refuse_used_run_folder(self.out_dir)
        self.dist = distributed.setup(device)
        self.device = self.dist.device
        s = self.settings
        if s.batch_size % self.dist.world_size:
            raise ConfigError(
                f"train.batch_size={s.batch_size} is the global batch and must be divisible by the "
                f"{self.dist.world_size} processes; change it or --nproc-per-node"
            )
        if s.amp == "fp16" and self.device.type == "cpu":
            raise ConfigError("train.amp: fp16 needs CUDA; use amp: bf16 (or off) on the CPU")
        if s.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        seed_everything(s.seed)
        train_crop = ((self.config.get("data") or {}).get("train") or {}).get("crop")
        check_memory(self.config, training=True, batch_size=self.per_rank_batch_size(), crop=train_crop,
                     device=self.device, ema=s.ema is not None)
        self.pipeline: Pipeline = build_pipeline(self.config).to(self.device)
        if train_crop:
            from ..pipeline import probe_activations

            channels = int(((self.config.get("data") or {}).get("train") or {}).get("channels") or 3)
            act = probe_activations(self.pipeline, self.per_rank_batch_size(), int(train_crop), channels)
            check_memory(self.config, training=True, batch_size=self.per_rank_batch_size(), crop=train_crop,
                         device=self.device, ema=s.ema is not None, pipeline=self.pipeline, activation_bytes=act,
                         allocated=True)
        self.stages = s.effective_stages()
        self.plans: list[StagePlan] = plan_stages(self.pipeline, self.stages)
        self.total_iterations = self.plans[-1].end
        self.stop_after = stop_after
        self.callbacks = list(callbacks or [])
        self.progress = progress
        self.per_rank_batch = s.batch_size // self.dist.world_size
        self.train_dataset = train_dataset if train_dataset is not None else self._build_dataset("train")
        self.val_dataset = val_dataset if val_dataset is not None else self._build_dataset("val", required=False)
        self.track_best = any(st.reload_best for st in self.stages)
        self.best: BestValidation | None = None
        if self.track_best and self.val_dataset is None:
            first = next(i for i, st in enumerate(self.stages) if st.reload_best)
            raise ConfigError(
                f"train.stages[{first}].reload_best: there is no validation set; add data.val (validated every "
                f"train.val_every steps) or drop reload_best"
            )
        self.freezer = Freezer(self.pipeline)
        self.ema = EMA(self.pipeline, s.ema) if s.ema is not None else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=s.amp == "fp16")
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.model: nn.Module = self.pipeline
        self.stage: StagePlan | None = None
        self.iteration = 0
        self.last_loss: float | None = None
        self.last_val: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self.stream = BatchStream(
            self.train_dataset, self.per_rank_batch, self.dist, s.seed, s.num_workers, default_collate()
        )
        if overwrite and resume is None and self.dist.is_main:
            _remove_run_files(self.out_dir)
        distributed.barrier(self.dist)
        self.resume_choice = ckpt.choose_resume(resume, self.checkpoint_root, clean=self.dist.is_main)
        self.resumed = resume is not None
        self._doing = "training"
        self.resumed_from = self.resume_choice.path
        if self.dist.is_main:
            for line in self.resume_choice.messages():
                print(line, flush=True)
        if self.resumed_from is not None:
            self._load(self.resumed_from)
        elif s.init_weights:
            from ..weights import load_weights  # warm start: the one weights loader

            load_weights(self.pipeline, s.init_weights, strict=s.init_strict)
            if self.ema is not None:
                self.ema = EMA(self.pipeline, s.ema)

    # -- set-up helpers ------------------------------------------------------------------------
    def per_rank_batch_size(self) -> int:
        return max(1, self.settings.batch_size // max(1, self.dist.world_size))

    @property
    def checkpoint_root(self) -> Path:
        return self.out_dir / "checkpoints"

    def _build_dataset(self, split: str, required: bool = True) -> Dataset | None:
        data_cfg = self.config.get("data")
        if not data_cfg or data_cfg.get(split) is None:
            if required:
                raise ConfigError(
                    f"data.{split}: training needs a '{split}' dataset in the data: section "
                    f"(e.g. data: {{{split}: {{type: synthetic, root: images/}}}})"
                )
            return None
        from restorekit.data import build_dataset  # engine → data is a core → core import

        return build_dataset(data_cfg, split, self.settings.seed)

    def _plan_at(self, iteration: int) -> StagePlan:
        for plan in self.plans:
            if plan.start <= iteration < plan.end:
                return plan
        return self.plans[-1]

    def _enter_stage(self, plan: StagePlan, reload: bool = False) -> None:
        """Freeze/unfreeze, (re)build the optimiser if needed, restart the schedule, wrap DDP.
        With ``reload`` (a fresh entry, not a resume) a ``reload_best`` stage first loads the
        best validated weights."""
        s = self.settings
        if reload and plan.settings.reload_best:
            self._reload_best(plan)
        self.freezer.apply(plan.settings, f"train.stages[{plan.index}]")
        if not any(p.requires_grad for p in self.pipeline.parameters()):
            raise ConfigError(f"train.stages[{plan.index}] ({plan.settings.name}): no parameter is trainable; check trainable/frozen")
        if self.optimizer is None or plan.settings.reset_optimizer:
            self.optimizer = build_optimizer(self.pipeline.parameters(), s, float(plan.settings.lr))  # type: ignore[arg-type]
        self.scheduler = build_scheduler(self.optimizer, int(plan.settings.iterations), float(plan.settings.lr), s)  # type: ignore[arg-type]
        self.stage = plan
        if self.dist.distributed:
            self.model = self.pipeline  # drop the previous wrapper (its hooks go with it)
            self.model = DistributedDataParallel(
                self.pipeline,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=s.find_unused_parameters,
            )
        self.freezer.set_mode(True)

    def _reload_best(self, plan: StagePlan) -> None:
        if self.best is None:
            raise ConfigError(
                f"train.stages[{plan.index}] ({plan.settings.name}).reload_best: no validation PSNR was recorded before "
                f"the stage (does the eval protocol compute psnr?); nothing to reload"
            )
        self.pipeline.load_state_dict(self.best.weights, strict=True)
        if self.ema is not None:
            self.ema.module.load_state_dict(self.best.weights, strict=True)
        self.reloaded = (plan.index, self.best.iteration, self.best.psnr)

    def _record_best(self, values: Mapping[str, float]) -> None:
        """Remember the validated weights if this periodic validation has the best PSNR so far."""
        s = self.settings
        if not self.track_best or not s.val_every or self.iteration % s.val_every:
            return
        psnr = values.get("psnr")
        if psnr is None or np.isnan(psnr):
            return
        if self.best is None or psnr > self.best.psnr:
            model = self.ema.module if self.ema is not None else self.pipeline
            self.best = BestValidation(self.iteration, float(psnr), ckpt.plain_state_dict(model))

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        assert self.optimizer is not None and self.scheduler is not None and self.stage is not None
        sched = self.scheduler.state_dict()
        sched["lr_lambdas"] = [None] * len(sched.get("lr_lambdas", []))  # closed form, rebuilt from the config
        return {
            "iteration": self.iteration,
            "stage": self.stage.index,
            "data": self.stream.position(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": sched,
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng_state(self.device),
            "world_size": self.dist.world_size,
            "best": {"iteration": self.best.iteration, "psnr": self.best.psnr} if self.best is not None else None,
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/iter_<n>`` (rank 0) and wait for it on every rank."""
        path = None
        if self.dist.is_main:
            self._doing = f"writing checkpoint {self.checkpoint_root / ckpt.checkpoint_name(self.iteration)}"
            plugins = {n: p.version for n, p in get_host().plugins.items() if p.status == "ok"}
            path = ckpt.write_checkpoint(
                self.checkpoint_root,
                self.iteration,
                ckpt.plain_state_dict(self.pipeline),
                self.state_dict(),
                self.config,
                plugins,
                ema_weights=ckpt.plain_state_dict(self.ema.module) if self.ema is not None else None,
                best_weights=self.best.weights if self.best is not None else None,
            )
            if self.settings.keep_checkpoints is not None:
                ckpt.prune(self.checkpoint_root, self.settings.keep_checkpoints)
            self._doing = "training"
        distributed.barrier(self.dist)
        return path

    def _load(self, path: Path) -> None:
        weights, state, _ = ckpt.load_checkpoint(path, "cpu")
        self.pipeline.load_state_dict(weights, strict=True)
        self.iteration = int(state["iteration"])
        self._enter_stage(self.plans[int(state["stage"])])
        assert self.optimizer is not None and self.scheduler is not None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.stream.epoch = int(state["data"]["epoch"])
        self.stream.index = int(state["data"]["index"])
        set_rng_state(state["rng"], self.device)
        best = state.get("best")
        if best is not None:
            weights = ckpt.load_best_weights(path)
            if weights is None:
                raise ConfigError(f"{path}: the state records a best validation but {ckpt.BEST_WEIGHTS} is missing")
            self.best = BestValidation(int(best["iteration"]), float(best["psnr"]), weights)

    # -- one step ------------------------------------------------------------------------------
    def _autocast(self) -> torch.autocast:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.settings.amp)
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _forward_loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor], Any]:
        with self._autocast():
            output = self.model(batch)
        with torch.autocast(self.device.type, enabled=False):
            output32 = to_float32(output)
            assert self.stage is not None
            total, parts = self.pipeline.loss(output32, batch, active=self.stage.losses)
        return total, parts, output32

    def _tell_losses_the_epoch(self) -> None:
        """Losses with epoch-dependent behaviour (e.g. NRKNet's SSIM phases) expose
        ``set_epoch(epoch)``; call it with the data stream's current epoch."""
        for loss in self.pipeline.losses.losses:
            set_epoch = getattr(loss, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(self.stream.epoch)

    def train_step(self) -> tuple[Tensor, dict[str, Tensor], Mapping[str, Any], Any]:
        """One optimiser step; returns (loss, loss parts, last batch, last output)."""
        s = self.settings
        assert self.optimizer is not None and self.scheduler is not None
        loss_sum = torch.zeros((), device=self.device)
        parts_sum: dict[str, Tensor] = {}
        batch: Mapping[str, Any] = {}
        output: Any = None
        for micro in range(s.grad_accum):
            batch = to_device(next(self.stream), self.device)
            self._tell_losses_the_epoch()
            sync = micro == s.grad_accum - 1 or not isinstance(self.model, DistributedDataParallel)
            context = self.model.no_sync() if not sync else _nullcontext()  # type: ignore[operator]
            with context:
                total, parts, output = self._forward_loss(batch)
                self.scaler.scale(total / s.grad_accum).backward()
            loss_sum += total.detach() / s.grad_accum
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, torch.zeros((), device=self.device)) + v.float() / s.grad_accum
        if s.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for p in self.pipeline.parameters() if p.grad is not None], s.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.pipeline)
        return loss_sum, parts_sum, batch, output

    # -- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean metrics (``compute_metrics``, e.g. PSNR/SSIM) over the validation set, all ranks."""
        if self.val_dataset is None:
            return {}
        from restorekit.metrics import compute_metrics

        protocol: Any = self.config.get("eval") or "default"  # the eval: section, or the default protocol
        model = self.ema.module if self.ema is not None else self.pipeline
        model.eval()
        if hasattr(self.val_dataset, "set_epoch"):
            self.val_dataset.set_epoch(0)
        subset = Subset(self.val_dataset, list(split_indices(len(self.val_dataset), self.dist)))  # type: ignore[arg-type]
        loader = DataLoader(
            subset,
            batch_size=self.per_rank_batch,
            collate_fn=default_collate(),
            num_workers=0,
            generator=torch.Generator().manual_seed(self.settings.seed),  # never touch the global RNG
        )
        sums: dict[str, Tensor] = {}
        count = torch.zeros((), device=self.device, dtype=torch.float64)
        for batch in loader:
            batch = to_device(batch, self.device)
            with self._autocast():
                restored = model(batch).restored
            values = compute_metrics(restored.float(), batch["sharp"].float(), protocol=protocol)
            for name, v in values.items():
                sums[name] = sums.get(name, torch.zeros((), device=self.device, dtype=torch.float64)) + v.double().sum()
            count += restored.shape[0]
        names = sorted(sums)
        packed = torch.stack([sums[n] for n in names] + [count]) if names else count[None]
        packed = distributed.all_reduce_sum(packed, self.dist)
        total = float(packed[-1])
        self.freezer.set_mode(True)
        return {n: float(packed[i]) / max(total, 1.0) for i, n in enumerate(names)}

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end (or ``stop_after``); returns a summary."""
        s = self.settings
        end = self.total_iterations if self.stop_after is None else min(self.total_iterations, self.stop_after)
        main = self.dist.is_main
        self._doing = "training"
        try:
            if self.resumed_from is not None and self.iteration >= end:
                if main:
                    print(f"{self.resumed_from} is already at iteration {self.iteration} of {end}; nothing to train", flush=True)
                    if self.iteration >= self.total_iterations and not (self.out_dir / "model.safetensors").is_file():
                        self._write_final_weights()  # e.g. a disk that was full when the run ended
                        print(f"wrote the final weights {self.out_dir / 'model.safetensors'}", flush=True)
                return {"iteration": self.iteration, "loss": None, "val": {}, "checkpoint": self.resumed_from, "rank": self.dist.rank}
            return self._fit(end)
        except OSError as exc:
            if is_disk_full(exc) or isinstance(exc, PermissionError):
                raise OutputError(self._storage_message(exc)) from exc
            raise

    def _storage_message(self, exc: OSError) -> str:
        latest = ckpt.list_checkpoints(self.checkpoint_root)
        if latest:
            kept = f"kept: checkpoint {latest[-1][1]} (iteration {latest[-1][0]}); free space and continue with --resume auto"
        else:
            kept = "no checkpoint was written yet; free space and start again"
        doing = f"{self._doing} (run {self.out_dir}, iteration {self.iteration})"
        return f"{os_error_text(exc, doing)}; {kept}"

    def _write_final_weights(self) -> None:
        final = self.ema.module if self.ema is not None else self.pipeline
        target = self.out_dir / "model.safetensors"
        self._doing = f"writing the final weights {target}"
        ckpt.write_weights(target, ckpt.plain_state_dict(final), {"format": "pt"})
        self._doing = "training"

    def _fit(self, end: int) -> dict[str, Any]:
        s = self.settings
        main = self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _write_text_atomic(self.out_dir / "config.yaml", dump_yaml(self.config))
            if self.resumed:
                _rewind_metrics(self.out_dir / "metrics.jsonl", self.iteration)
        logger = RunLogger(
            self.out_dir, self.total_iterations, self.iteration, enabled=main, progress=self.progress,
            purge_step=self.iteration + 1 if self.resumed else None,
        )
        if self.resumed_from is not None:
            logger.message(f"resumed from {self.resumed_from} at iteration {self.iteration}")
        saved_at = -1
        path = None
        try:
            while self.iteration < end:
                plan = self._plan_at(self.iteration)
                if self.stage is None or plan.index != self.stage.index:
                    self._enter_stage(plan, reload=True)
                    logger.message(f"stage {plan.index} '{plan.settings.name}': iterations {plan.start}..{plan.end}")
                    if plan.settings.reload_best and self.best is not None:
                        logger.message(
                            f"stage {plan.index} '{plan.settings.name}': reloaded the best validated weights "
                            f"(iteration {self.best.iteration}, psnr {self.best.psnr:.3f})"
                        )
                lr = self.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
                loss, parts, batch, output = self.train_step()
                self.iteration += 1
                it = self.iteration
                if s.log_every and (it % s.log_every == 0 or it == end):
                    reduced = distributed.all_reduce_mean(torch.stack([loss, *parts.values()]).float(), self.dist)
                    self.last_loss = float(reduced[0])
                    if not np.isfinite(self.last_loss):
                        raise FloatingPointError(
                            f"the training loss became {self.last_loss} at iteration {it}; lower train.lr, "
                            f"set train.grad_clip, or use amp: off"
                        )
                    values = {"loss": self.last_loss, "lr": lr, **{f"loss/{k}": float(v) for k, v in zip(parts, reduced[1:])}}
                    self.history.append({"iteration": it, **values})
                    logger.scalars(it, values)
                    logger.step({"loss": self.last_loss, "lr": lr})
                else:
                    logger.step({})
                if main and s.image_every and it % s.image_every == 0:
                    logger.images(it, batch["blurry"], output.restored, batch.get("sharp"), output.estimate.map)
                if s.val_every and it % s.val_every == 0 and it != end:
                    self._validate_and_log(logger)
                if s.checkpoint_every and it % s.checkpoint_every == 0 and it != end:
                    self.save_checkpoint()
                    saved_at = it
                for cb in self.callbacks:
                    cb(self)
            if self.iteration > 0 and (s.val_every or self.iteration == self.total_iterations):
                self._validate_and_log(logger)
            if saved_at != self.iteration and self.stage is not None:
                path = self.save_checkpoint()
            if self.iteration >= self.total_iterations and main:
                self._write_final_weights()
        finally:
            logger.close()
        return {
            "iteration": self.iteration,
            "loss": self.last_loss,
            "val": dict(self.last_val),
            "checkpoint": path,
            "rank": self.dist.rank,
        }

    def _validate_and_log(self, logger: RunLogger) -> None:
        values = self.validate()
        self._record_best(values)
        if values:
            self.last_val = values
            logger.scalars(self.iteration, values, kind="val")
            logger.message(f"iteration {self.iteration}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))

    def close(self) -> None:
        distributed.cleanup(self.dist)


def _refuse_used_run_folder(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder; give a run folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    shown = ", ".join(entries[:4]) + (" …" if len(entries) > 4 else "")
    raise ConfigError(
        f"--out {out} already holds files ({shown}); to continue that run use --resume auto, to keep it use a new "
        f"--out, or to replace it use --overwrite"
    )


def _remove_run_files(out: Path) -> None:
    """Replace a previous run: its :data:`RUN_FILES` move out of sight at once, then are deleted."""
    if not out.is_dir():
        return
    for name in RUN_FILES:
        p = out / name
        if p.exists() or p.is_symlink():
            trash = out / f".del-{name}-{uuid.uuid4().hex}"
            os.replace(p, trash)
            if trash.is_dir() and not trash.is_symlink():
                shutil.rmtree(trash, ignore_errors=True)
            else:
                trash.unlink(missing_ok=True)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _rewind_metrics(path: Path, iteration: int) -> None:
    """Keep only the ``metrics.jsonl`` rows up to ``iteration`` (a resumed run logs the rest
    again); unreadable lines (a write cut short by a kill) are dropped."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and int(row.get("iteration", 0)) <= iteration:
            kept.append(line)
    _write_text_atomic(path, "".join(f"{line}\n" for line in kept))


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def train(
    config: str | Path | Mapping[str, Any],
    overrides: list[str] | Mapping[str, Any] | None = None,
    out_dir: str | Path = "runs/train",
    resume: str | None = None,
    device: str = "auto",
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a :class:`Trainer`, run it, release the process group; returns the summary."""
    trainer = Trainer(config, overrides, out_dir=out_dir, resume=resume, device=device, **kwargs)
    try:
        return trainer.fit()
    finally:
        trainer.close()
