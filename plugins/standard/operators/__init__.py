"""standard.operators components: uniform/product convolution and per-pixel filters."""

from .convolution import Convolution
from .spatially_variant_filter import SpatiallyVariantFilter

COMPONENTS: dict[str, type] = {
    "convolution": Convolution,
    "spatially_variant_filter": SpatiallyVariantFilter,
}

__all__ = ["COMPONENTS", "Convolution", "SpatiallyVariantFilter"]
