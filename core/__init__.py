"""restorekit: a modular plug-in toolkit for image deblurring research.

Public surface (see README):

* :func:`create` — one component by its YAML name (``"standard.convolution"``);
* :func:`load_pipeline` — a built, checked :class:`Pipeline` from YAML;
* :func:`list_components` — the catalog; :func:`list_weights` — the bundled weights;
* :func:`load_weights` / :func:`save_weights` — the one weights loader (safetensors, strict,
  clear errors) and atomic writer with a :class:`ModelCard` inside;
* the five interfaces :class:`Encoder`, :class:`BlurEstimator`, :class:`Decoder`,
  :class:`Operator`, :class:`Loss` and the data they exchange.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .components import component_info, create, list_components
from .config import resolve_config, validate_config
from .errors import (
    ConfigError,
    InputError,
    OutputError,
    PipelineError,
    PluginError,
    RestorekitError,
    RestorekitWarning,
    UnknownComponentError,
)
from .hookspecs import hookimpl
from .interfaces import (
    Batch,
    BlurEstimate,
    BlurEstimator,
    BoundOperator,
    Component,
    Decoder,
    DecoderOutput,
    Encoder,
    Features,
    Loss,
    Operator,
    PieceSpec,
    PipelineOutput,
)
from .pipeline import CompositeLoss, Pipeline, build_pipeline, load_pipeline
from .plugin_host import get_host
from .weights import ModelCard, list_weights, load_weights, read_card, save_weights

try:
    __version__ = _metadata.version("restorekit")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "Batch",
    "BlurEstimate",
    "BlurEstimator",
    "BoundOperator",
    "Component",
    "CompositeLoss",
    "ConfigError",
    "Decoder",
    "DecoderOutput",
    "Encoder",
    "Features",
    "InputError",
    "Loss",
    "ModelCard",
    "Operator",
    "OutputError",
    "Pipeline",
    "PieceSpec",
    "PipelineError",
    "PipelineOutput",
    "PluginError",
    "RestorekitError",
    "RestorekitWarning",
    "UnknownComponentError",
    "__version__",
    "build_pipeline",
    "component_info",
    "create",
    "get_host",
    "hookimpl",
    "list_components",
    "list_weights",
    "load_pipeline",
    "load_weights",
    "read_card",
    "resolve_config",
    "save_weights",
    "validate_config",
]
