"""Training stages: which parameters train and which losses count in each stage.

Component paths are the keys of :meth:`Pipeline.components` (``encoder``,
``blur_estimator.0``, ``decoder``, ``operator``), optionally followed by a dotted
sub-module path (``decoder.subdecoders.1``). Semantics (our choice):

* ``trainable: null`` keeps every parameter's own ``requires_grad`` as its component set it
  (a component that freezes a pretrained part stays frozen); a list makes exactly the
  parameters under those paths trainable and freezes all others;
* ``frozen`` then freezes the parameters under its paths;
* a module whose own parameters are all frozen in a stage runs in ``eval()`` mode (fixed
  weights and fixed normalisation statistics), every other module in ``train()`` mode.

``losses`` selects ``losses:`` entries by ``name:`` or by ``type:``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ConfigError, suggestion_text
from ..pipeline import Pipeline
from .settings import StageSettings


def resolve_path(pipeline: Pipeline, path: str, where: str) -> nn.Module:
    """The module at a component path (``decoder.subdecoders.1``)."""
    components = pipeline.components()
    head = next((k for k in sorted(components, key=len, reverse=True) if path == k or path.startswith(k + ".")), None)
    if head is None:
        raise ConfigError(
            f"{where}: '{path}' is not a component path{suggestion_text(path, list(components))} "
            f"(component paths: {', '.join(components)}; add a dotted sub-module path like 'decoder.body')"
        )
    module = components[head]
    rest = path[len(head) + 1 :]
    walked = head
    for part in rest.split(".") if rest else []:
        children = dict(module.named_children())
        if part not in children:
            raise ConfigError(
                f"{where}: '{walked}' has no sub-module '{part}'{suggestion_text(part, list(children))} "
                f"(its sub-modules: {', '.join(children) or 'none'})"
            )
        module = children[part]
        walked = f"{walked}.{part}"
    return module


def active_losses(pipeline: Pipeline, stage: StageSettings, where: str) -> list[str] | None:
    """Names of the ``CompositeLoss`` terms active in ``stage`` (``None`` = all)."""
    if stage.losses is None:
        return None
    names = list(pipeline.losses.names)
    types = [str(spec.get("type", "")) for spec in pipeline.config.get("losses", [])]
    if len(types) != len(names):
        types = [getattr(loss, "component_name", type(loss).__name__) for loss in pipeline.losses.losses]
    active: list[str] = []
    for wanted in stage.losses:
        hits = [n for n, t in zip(names, types) if wanted in (n, t)]
        if not hits:
            raise ConfigError(
                f"{where}: no loss named or typed '{wanted}'{suggestion_text(wanted, names + types)} "
                f"(the losses are: {', '.join(f'{n} ({t})' for n, t in zip(names, types)) or 'none'})"
            )
        active.extend(h for h in hits if h not in active)
    return active


@dataclass
class StagePlan:
    """A stage resolved against a pipeline."""

    index: int
    settings: StageSettings
    start: int  # global iteration at which the stage starts
    losses: list[str] | None

    @property
    def end(self) -> int:
        return self.start + int(self.settings.iterations or 0)


def plan_stages(pipeline: Pipeline, stages: list[StageSettings]) -> list[StagePlan]:
    """Check every stage's paths and losses before training starts; return their spans."""
    plans, start = [], 0
    for i, stage in enumerate(stages):
        where = f"train.stages[{i}] ({stage.name})"
        for key in ("trainable", "frozen"):
            for path in getattr(stage, key) or []:
                resolve_path(pipeline, path, f"{where}.{key}")
        plans.append(StagePlan(i, stage, start, active_losses(pipeline, stage, f"{where}.losses")))
        start += int(stage.iterations or 0)
    return plans


class Freezer:
    """Applies a stage's trainable/frozen sets, starting from the components' own choices."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.base = {id(p): p.requires_grad for p in pipeline.parameters()}
        self.frozen_modules: list[nn.Module] = []

    def apply(self, stage: StageSettings, where: str = "train.stages") -> None:
        params = list(self.pipeline.parameters())
        if stage.trainable is None:
            for p in params:
                p.requires_grad_(self.base[id(p)])
        else:
            for p in params:
                p.requires_grad_(False)
            for path in stage.trainable:
                resolve_path(self.pipeline, path, where).requires_grad_(True)
        for path in stage.frozen or []:
            resolve_path(self.pipeline, path, where).requires_grad_(False)
        self.frozen_modules = [
            m for m in self.pipeline.modules()
            if any(True for _ in m.parameters(recurse=False)) and not any(p.requires_grad for p in m.parameters(recurse=False))
        ]

    def set_mode(self, training: bool, model: Any | None = None) -> None:
        """``train(training)`` on the model, then ``eval()`` on the frozen modules."""
        (model or self.pipeline).train(training)
        if training:
            for m in self.frozen_modules:
                m.eval()
