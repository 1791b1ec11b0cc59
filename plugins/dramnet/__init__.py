"""The ``dramnet`` plugin (being built; its components are registered as they land)."""

from __future__ import annotations
