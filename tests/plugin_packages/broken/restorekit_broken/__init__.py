"""A plugin that fails at import, to prove that one broken plugin does not break the others."""

raise RuntimeError("restorekit_broken is deliberately broken")
