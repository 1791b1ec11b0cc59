"""Exceptions and the "did you mean" helper shared by the config, catalog and CLI."""

from __future__ import annotations

import difflib
from typing import Iterable


class RestorekitError(Exception):
    """Base class of restorekit's user-facing errors."""


class ConfigError(RestorekitError, ValueError):
    """A YAML configuration (or component options) is invalid. The message names the
    offending key path and, where possible, the nearest valid spelling."""


class UnknownComponentError(ConfigError, KeyError):
    """A component name is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PipelineError(RestorekitError, ValueError):
    """Components that cannot work together (a missing provided piece, a bad mix)."""


class PluginError(RestorekitError, RuntimeError):
    """A plugin failed to load or registered something invalid."""


class InputError(RestorekitError, ValueError):
    """An input image, kernel or file has the wrong shape, dtype or content."""


class OutputError(RestorekitError, OSError):
    """An output could not be written (disk full, permission denied, a file where a folder
    should be). The message says what was being written and what was kept."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class RestorekitWarning(UserWarning):
    """Something was done on the user's behalf that they should know about (an alpha channel
    dropped, an unknown plugin name in an environment switch, renamed outputs)."""


class MissingBatchKeyError(InputError, KeyError):
    """A batch lacks a key a component needs (still a ``KeyError`` for ``except KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def os_error_text(exc: OSError, doing: str = "") -> str:
    """One line for an :class:`OSError`: ``"no space left on device while writing 'x'"``."""
    import errno as _errno
    import os as _os

    reason = exc.strerror or (str(exc.args[0]) if exc.args else type(exc).__name__)
    if exc.errno == _errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno is not None and not exc.strerror:
        reason = _os.strerror(exc.errno)
    where = f" ('{exc.filename}')" if getattr(exc, "filename", None) else ""
    return f"{reason}{where}" + (f" while {doing}" if doing else "")


def is_disk_full(exc: BaseException) -> bool:
    import errno as _errno

    return isinstance(exc, OSError) and exc.errno in (_errno.ENOSPC, _errno.EDQUOT)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Nearest candidates to ``word`` (difflib ratio ≥ 0.5), best first.

    Also matches on the part after a namespace dot, so ``"edge_l"`` finds
    ``"myplugin.edge_l1"``.
    """
    cands = list(dict.fromkeys(candidates))
    scored: dict[str, float] = {}
    for cand in cands:
        tails = {cand, cand.rsplit(".", 1)[-1]}
        score = max(difflib.SequenceMatcher(None, word.lower(), t.lower()).ratio() for t in tails)
        if score >= 0.5:
            scored[cand] = score
    return sorted(scored, key=lambda c: -scored[c])[:n]


def suggestion_text(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or ``""``."""
    near = did_you_mean(word, candidates)
    if not near:
        return ""
    if len(near) == 1:
        return f"; did you mean '{near[0]}'?"
    return "; did you mean " + " or ".join(f"'{c}'" for c in near) + "?"
