"""pluggy hook specifications of restorekit (register-callback style).

A plugin is a module (or object) registered under the entry-point group ``restorekit``;
the entry-point name is its namespace in YAML. It implements any of these hooks, each of
which receives a ``register(name, factory, summary=None)`` callback::

    import restorekit

    @restorekit.hookimpl
    def register_losses(register):
        register("tv", TotalVariationLoss)       # usable as `type: myplugin.tv`
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "restorekit"
ENTRY_POINT_GROUP = "restorekit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., Any]
"""``register(name: str, factory: Callable, summary: str | None = None)``."""


@hookspec
def register_encoders(register: Register) -> None:
    """Register :class:`restorekit.Encoder` factories."""


@hookspec
def register_blur_estimators(register: Register) -> None:
    """Register :class:`restorekit.BlurEstimator` factories."""


@hookspec
def register_decoders(register: Register) -> None:
    """Register :class:`restorekit.Decoder` factories."""


@hookspec
def register_operators(register: Register) -> None:
    """Register :class:`restorekit.Operator` factories."""


@hookspec
def register_losses(register: Register) -> None:
    """Register :class:`restorekit.Loss` factories."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset factories (``torch.utils.data.Dataset`` subclasses)."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metric factories (callables ``(restored, sharp) -> Tensor``)."""


@hookspec
def register_weights(register: Register) -> None:
    """Register bundled weights files: ``register(name, path)`` with ``path`` a safetensors
    file (usually inside the plugin package) carrying a :class:`restorekit.ModelCard`; listed
    by ``restorekit weights`` as ``<plugin>.<name>``."""


@hookspec
def register_pipelines(register: Register) -> None:
    """Register bundled pipelines: ``register(name, pipeline=PATH|config, weights=None,
    task=…, label=…, paper=…, metrics={…}, demo=False, order=100, summary="")`` (see
    :class:`restorekit.bundled.BundledPipeline`); usable as ``--pipeline <plugin>.<name>``,
    listed by ``restorekit pipelines``, shown by ``restorekit demo`` when ``demo=True``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add command-line sub-commands: ``cli.add(name, help, configure, run)``; see
    :class:`restorekit.cli.CommandRegistry`."""


HOOK_KINDS: dict[str, str] = {
    "register_encoders": "encoder",
    "register_blur_estimators": "blur_estimator",
    "register_decoders": "decoder",
    "register_operators": "operator",
    "register_losses": "loss",
    "register_datasets": "dataset",
    "register_metrics": "metric",
}
