"""The ``train:`` section of a pipeline YAML: :class:`TrainSettings` and :class:`StageSettings`.

:func:`validate_train_section` is the section's entry in
:data:`restorekit.config.SECTION_VALIDATORS`, so ``restorekit config validate`` checks the
section (types, ranges, stages) with "did you mean" suggestions like every component and
``config resolve`` prints every default. This module imports nothing heavy.

Example::

    train:
      optimizer: adamw
      lr: 3.0e-4
      schedule: cosine
      warmup_iters: 100
      min_lr: 1.0e-6
      iterations: 1000          # per stage unless a stage gives its own
      amp: bf16
      ema: 0.999
      stages:
        - {name: decoder_only, iterations: 200, frozen: [encoder]}
        - {name: end_to_end, lr: 1.0e-4, reset_optimizer: true}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from ..errors import ConfigError


@dataclass
class StageSettings:
    """One training stage.

    Attributes:
        name: shown in logs and checkpoints.
        iterations: optimiser steps in this stage; ``None`` uses ``train.iterations``.
        losses: names (``name:``) or types (``type:``) of the ``losses:`` entries that are
            active in this stage; ``None`` activates all of them.
        lr: peak learning rate of this stage; ``None`` uses ``train.lr``.
        trainable: component paths (``encoder``, ``decoder``, ``blur_estimator.0``, with
            dotted sub-module paths such as ``decoder.subdecoders.1``) that are trained;
            everything else is frozen. ``None`` makes every component trainable.
        frozen: component paths frozen in this stage (applied after ``trainable``).
        reset_optimizer: start this stage with fresh optimiser moments (Adam m, v).
        reload_best: at the start of this stage, load the weights of the best validation so
            far (as the official NRKNet training does at each learning-rate step). "Best" is
            the highest mean PSNR of the periodic validations (every ``train.val_every``
            steps, on ``data.val``, with the ``eval:`` protocol) since the run began, resumed
            parts included; ties keep the earlier one. The weights are the ones validated —
            the EMA weights when ``train.ema`` is set — and they are loaded into the model
            and the EMA. The optimiser is kept unless ``reset_optimizer`` is also set (the
            official code re-creates Adam, i.e. set both). It is a configuration error when
            no periodic validation runs before the stage starts (``val_every`` 0 or larger
            than the stage's start, or the first stage) or when there is no validation set.
    """

    name: str = "main"
    iterations: int | None = None
    losses: list[str] | None = None
    lr: float | None = None
    trainable: list[str] | None = None
    frozen: list[str] | None = None
    reset_optimizer: bool = False
    reload_best: bool = False


@dataclass
class TrainSettings:
    """The ``train:`` section.

    Attributes:
        optimizer: ``adam`` or ``adamw`` (decoupled weight decay).
        lr, betas, weight_decay: optimiser hyper-parameters.
        batch_size: *global* batch size of one forward pass (split evenly over the ranks
            under ``torchrun``; our choice, so that runs on 1 or N processes match).
        iterations: optimiser steps of a run without stages, and of every stage that does
            not give its own ``iterations``.
        schedule: ``cosine`` (to ``min_lr``), ``step`` (× ``gamma`` at each of
            ``milestones``) or ``constant``; all with a linear warm-up over
            ``warmup_iters``. With stages, the schedule restarts in every stage (our choice).
        amp: mixed precision: ``off``, ``bf16`` or ``fp16`` (with a gradient scaler).
        ema: decay of an exponential moving average of the weights (e.g. 0.999), or null.
        grad_clip: clip the global gradient norm to this value, or null.
        grad_accum: forward/backward passes accumulated per optimiser step.
        val_every, checkpoint_every, log_every, image_every: periods in optimiser steps
            (0 disables; validation and a checkpoint also run at the end of training).
        keep_checkpoints: keep only the newest N checkpoints (null keeps all).
        seed: seeds Python, NumPy and torch, and the data order.
        deterministic: ``torch.use_deterministic_algorithms(True)`` (slower on CUDA).
        num_workers: DataLoader worker processes.
        find_unused_parameters: passed to DistributedDataParallel (needed when a stage's
            losses do not reach every trainable parameter).
        stages: the stages, run in order; empty means one stage of ``iterations`` steps.
        init_weights: warm start: weights loaded (with :func:`restorekit.load_weights`)
            before the first step of a new run — a ``.safetensors`` file, a run folder, or a
            bundled weights name; ignored when resuming.
        init_strict: the warm-start file must match the pipeline key for key (``false``:
            load the keys it shares with the pipeline; shapes must still agree).
    """

    optimizer: Literal["adam", "adamw"] = "adamw"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    batch_size: int = 8
    iterations: int = 1000
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_iters: int = 0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    min_lr: float = 0.0
    amp: Literal["off", "bf16", "fp16"] = "off"
    ema: float | None = None
    grad_clip: float | None = None
    grad_accum: int = 1
    val_every: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    image_every: int = 0
    keep_checkpoints: int | None = None
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    find_unused_parameters: bool = False
    stages: list[StageSettings] = field(default_factory=list)
    init_weights: str | None = None
    init_strict: bool = True

    # -- construction from a resolved config ------------------------------------------------
    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> "TrainSettings":
        """Build from the (validated) ``train:`` mapping, filling defaults of nested stages.

        Raises:
            ConfigError: for values that type-check but make no sense (negative counts …).
        """
        from ..schema import dataclass_schema

        values = dict(section or {})
        schema = dataclass_schema(cls, "the 'train' section")
        checked = {**schema.defaults(), **schema.validate(values, "train")}
        stages = [_stage(s, i) for i, s in enumerate(checked.pop("stages") or [])]
        checked["betas"] = tuple(checked["betas"])
        settings = cls(**checked, stages=stages)
        settings.check()
        return settings

    def check(self) -> None:
        """Range checks the type hints cannot express."""
        positive = {"batch_size": self.batch_size, "iterations": self.iterations, "grad_accum": self.grad_accum}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"train.{key}: must be at least 1, got {value}")
        for key in ("val_every", "checkpoint_every", "log_every", "image_every", "warmup_iters", "num_workers"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key}: must be >= 0 (0 disables), got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr: must be > 0, got {self.lr}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ConfigError(f"train.ema: the EMA decay must lie in (0, 1) (e.g. 0.999), got {self.ema}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"train.grad_clip: must be > 0 or null, got {self.grad_clip}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ConfigError(f"train.keep_checkpoints: must be >= 1 or null, got {self.keep_checkpoints}")
        if sorted(self.milestones) != list(self.milestones):
            raise ConfigError(f"train.milestones: must be increasing, got {self.milestones}")
        names = [s.name for s in self.stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"train.stages: stage names must be unique, {dup} repeat")
        start = 0
        for i, s in enumerate(self.stages):
            if s.iterations is not None and s.iterations < 1:
                raise ConfigError(f"train.stages[{i}].iterations: must be at least 1 or null, got {s.iterations}")
            if s.lr is not None and s.lr <= 0:
                raise ConfigError(f"train.stages[{i}].lr: must be > 0 or null, got {s.lr}")
            if s.reload_best:
                where = f"train.stages[{i}] ({s.name}).reload_best"
                if i == 0:
                    raise ConfigError(f"{where}: the first stage has no earlier validation to reload; set it on a later stage")
                if self.val_every == 0:
                    raise ConfigError(
                        f"{where}: needs the periodic validation; set train.val_every (e.g. to the stage length, "
                        f"so that the stage boundary is validated)"
                    )
                if self.val_every > start:
                    raise ConfigError(
                        f"{where}: no validation runs before the stage starts at iteration {start} "
                        f"(train.val_every = {self.val_every}); lower val_every to at most {start}"
                    )
            start += int(s.iterations if s.iterations is not None else self.iterations)

    # -- derived ---------------------------------------------------------------------------
    def effective_stages(self) -> list[StageSettings]:
        """The stages with ``iterations`` and ``lr`` filled in (one stage when none given)."""
        stages = self.stages or [StageSettings()]
        return [
            dataclasses.replace(
                s,
                iterations=s.iterations if s.iterations is not None else self.iterations,
                lr=s.lr if s.lr is not None else self.lr,
            )
            for s in stages
        ]

    def total_iterations(self) -> int:
        return sum(int(s.iterations or 0) for s in self.effective_stages())


def _stage(value: Any, index: int) -> StageSettings:
    if isinstance(value, StageSettings):
        return value
    from ..schema import dataclass_schema

    schema = dataclass_schema(StageSettings, "a training stage")
    checked = {**schema.defaults(), **schema.validate(value, f"train.stages[{index}]")}
    if "name" not in (value or {}):
        checked["name"] = f"stage{index}"
    return StageSettings(**checked)


def validate_train_section(value: Any) -> dict[str, Any]:
    """Validate the ``train:`` section (absent = all defaults) and return it fully resolved,
    stages included (each with every field; unnamed stages are ``stage<i>``)."""
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"train: expected a mapping of training settings, got {type(value).__name__}")
    settings = TrainSettings.from_config(value)
    out = dataclasses.asdict(settings)
    out["betas"] = list(settings.betas)
    return out
