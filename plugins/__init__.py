"""restorekit plugins (each sub-package is registered through its own entry point)."""
