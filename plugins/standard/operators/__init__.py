"""standard.operators components (filled in by their modules)."""

COMPONENTS: dict[str, type] = {}
