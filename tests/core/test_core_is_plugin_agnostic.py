"""The core never imports or names a plugin: no plugin name appears in core/ code outside
docstrings, comments and error-message examples ("e.g. …", "like '…'")."""

from __future__ import annotations

import ast
import io
import re
import tokenize

from ..conftest import ROOT

PLUGIN_NAMES = re.compile(r"\b(standard|nrknet|svmap|dramnet|aibnet)\b")


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def test_no_plugin_name_in_core_code() -> None:
    offenders = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        docs = _docstring_lines(ast.parse(src))
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type not in (tokenize.NAME, tokenize.STRING) or tok.start[0] in docs:
                continue
            if tok.type == tokenize.STRING and tok.string.lstrip("rbuf").startswith(('"""', "'''")):
                continue  # attribute docstrings
            if PLUGIN_NAMES.search(tok.string) and not re.search(r"e\.g\.|like '", tok.string):
                offenders.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string[:80]}")
    assert not offenders, "plugin names in core code:\n" + "\n".join(offenders)


def test_core_modules_import_no_plugin() -> None:
    for path in sorted((ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and "plugins" in node.module.split("."):
                raise AssertionError(f"{path.relative_to(ROOT)} imports {node.module}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert "restorekit.plugins" not in alias.name, f"{path.relative_to(ROOT)} imports {alias.name}"
