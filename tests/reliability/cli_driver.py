"""Run many ``restorekit`` command lines in one Python process, each exactly as
``python -m restorekit ARGS`` runs it (``raise SystemExit(restorekit.cli.main())``).

``python -m tests.reliability.cli_driver CASES.json RESULTS.json``: ``CASES.json`` is a list
of ``{"argv": [...], "env": {...}?, "fail_writes": "module:attr"?, "sentinel": DIR?,
"output": DIR?}``. For each case the
plugin host is reset (so environment switches apply), stdout/stderr are captured, and an
exception escaping ``main`` is printed the way the interpreter prints it (a traceback) with
exit status 1 — so the results are what a user would see. ``fail_writes`` replaces that
function with one raising ``OSError(ENOSPC)`` (a full disk) for the case. With ``sentinel``,
every file under it except those under ``output`` is checksummed before and after the
case; ``changed`` lists the files that appeared, vanished or changed.

Starting Python and importing torch once instead of once per case keeps the fuzz table
fast; a few cases also run through a real ``python -m restorekit`` (test_fuzz_cli.py).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import json
import os
import sys
import traceback
from pathlib import Path


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def run_case(case: dict) -> dict:
    from restorekit.cli import main
    from restorekit.plugin_host import reset_host

    saved_env = dict(os.environ)
    os.environ.update(case.get("env") or {})
    reset_host()
    patched = None
    if case.get("fail_writes"):
        module, _, attr = case["fail_writes"].partition(":")
        mod = importlib.import_module(module)
        patched = (mod, attr, getattr(mod, attr))
        setattr(mod, attr, _no_space)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(case["argv"]))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what the interpreter would print
                traceback.print_exc()
                code = 1
    finally:
        if patched is not None:
            setattr(*patched)
        os.environ.clear()
        os.environ.update(saved_env)
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def run_checked(case: dict) -> dict:
    from tests.reliability.helpers import checksums

    sentinel = case.get("sentinel")
    exclude = [case["output"]] if case.get("output") else []
    before = checksums(Path(sentinel), exclude) if sentinel else {}
    result = run_case(case)
    after = checksums(Path(sentinel), exclude) if sentinel else {}
    result["changed"] = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return result


def main_(argv: list[str]) -> int:
    cases = json.loads(open(argv[0]).read())
    results = [run_checked(c) for c in cases]
    with open(argv[1], "w") as fh:
        json.dump(results, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
