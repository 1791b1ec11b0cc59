"""The ``restorekit`` command line.

Built-in commands: ``plugins``, ``components``, ``config validate|resolve``; the engine adds
``train``, ``eval``, ``deblur`` through :data:`BUILTIN_COMMAND_MODULES`, and any plugin can
add more with the ``register_commands(cli)`` hook.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .errors import RestorekitError, RestorekitWarning, is_disk_full, os_error_text

DEBUG_FLAGS = ("--debug", "--traceback")
"""Show the full traceback of an error (``--traceback`` is the old spelling); accepted
anywhere on the command line."""

EXIT_ERROR = 1
"""A mistake or failure restorekit recognised (one ``error:`` line on stderr)."""
EXIT_USAGE = 2
"""A command-line usage error (argparse)."""
EXIT_INTERNAL = 70
"""An unexpected exception (EX_SOFTWARE): probably a bug; ``--debug`` shows where."""

BUILTIN_COMMAND_MODULES: tuple[str, ...] = ("restorekit.engine.commands", "restorekit.inference.commands", "restorekit.weights_cli", "restorekit.demo.run")
"""Core modules that expose ``add_commands(cli: CommandRegistry)``."""


@dataclass
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    source: str


class CommandRegistry:
    """What ``register_commands(cli)`` hooks receive: ``cli.add(name, help, configure, run)``."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._source = "restorekit"

    def add(
        self,
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace], int | None],
    ) -> None:
        if name in self.commands:
            prev = self.commands[name]
            raise RestorekitError(f"command '{name}' is defined twice: by {prev.source} and by {self._source}")
        self.commands[name] = Command(name, help, configure, run, self._source)


# ---------------------------------------------------------------------------------------
# Built-in commands
# ---------------------------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from .plugin_host import get_host

    host = get_host()
    rows = sorted(host.plugins.values(), key=lambda p: p.name)
    if args.json:
        print(json.dumps([p.as_dict() for p in rows], indent=2))
        return 0
    table = [("plugin", "version", "status", "components", "distribution")]
    for p in rows:
        table.append((p.name, p.version, p.status, str(len(p.components)), p.distribution))
    _print_table(table)
    for p in rows:
        if p.status == "error":
            print(f"\n{p.name}: {p.error}")
        elif p.status == "disabled":
            print(f"\n{p.name}: disabled ({p.detail})")
    return 0


def _cmd_components(args: argparse.Namespace) -> int:
    from .components import list_components
    from .plugin_host import get_host

    if args.action == "show":
        if not args.name:
            raise RestorekitError("usage: restorekit components show NAME")
        info = get_host().get(args.name)
        d = info.as_dict()
        if args.json:
            print(json.dumps(d, indent=2))
            return 0
        print(f"{d['name']}  ({d['kind'].replace('_', ' ')}, plugin {d['plugin']} {d['plugin_version']})")
        if d["summary"]:
            print(f"  {d['summary']}")
        factory = info.factory
        for attr in ("provides", "requires"):
            val = getattr(factory, attr, None)
            if isinstance(val, (set, frozenset)):
                print(f"  {attr}: {', '.join(sorted(val)) or '-'}")
        choices = docstring_section(factory, "Choices")
        if choices:
            print("  choices:")
            for line in choices:
                print(f"    {line}")
        print("  options:")
        if not d["options"]:
            print("    (none)")
        for name, opt in d["options"].items():
            default = "required" if opt["required"] else f"default {opt.get('default')!r}"
            print(f"    {name}: {opt['type']}  ({default})")
        return 0
    if args.action is not None:
        raise RestorekitError(f"unknown components action '{args.action}'; use 'restorekit components show NAME'")
    rows = list_components(args.kind)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [("name", "kind", "plugin", "version", "summary")]
    for r in rows:
        summary = r["summary"] if len(r["summary"]) <= 70 else r["summary"][:67] + "..."
        table.append((r["name"], r["kind"], r["plugin"], r["plugin_version"], summary))
    _print_table(table)
    return 0


def docstring_section(obj: Any, title: str) -> list[str]:
    """The lines of a Google-style docstring section (``Choices:``), dedented, or ``[]``."""
    import inspect

    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == f"{title}:" and not line.startswith(" "):
            inside = True
            continue
        if inside:
            if line and not line.startswith(" "):
                break
            if line.strip():
                out.append(line.strip() if not line.strip().startswith("- ") else line.strip())
    # join continuation lines onto their bullet
    merged: list[str] = []
    for line in out:
        if merged and not line.startswith("- "):
            merged[-1] += " " + line
        else:
            merged.append(line)
    return merged


def _cmd_config(args: argparse.Namespace) -> int:
    from .config import dump_yaml, resolve_config

    resolved = resolve_config(args.file, args.override)
    if args.action == "validate":
        if args.schema_only:
            print(f"{args.file}: valid (schemas only: not built, so stage paths, component checks and memory were not checked)")
            return 0
        note = check_buildable(resolved, build=args.build, data=args.data)
        print(f"{args.file}: valid{note}")
        return 0
    sys.stdout.write(dump_yaml(resolved))
    return 0


def check_buildable(resolved: dict[str, Any], build: bool = False, data: bool = False) -> str:
    """What ``config validate`` checks beyond the schemas, without allocating the model: the
    pipeline is built on the ``meta`` device (components' own option checks, contracts), its
    memory estimate is compared with the memory available, and ``train.stages`` paths and
    loss names are resolved against it. ``build`` also builds it for real; ``data`` builds
    the datasets (their folders must exist). Returns a note for the "valid" line."""
    from .engine.settings import TrainSettings
    from .engine.stages import plan_stages
    from .pipeline import build_pipeline, check_memory, meta_pipeline

    settings = TrainSettings.from_config(resolved.get("train"))
    train_data = (resolved.get("data") or {}).get("train")
    pipe = meta_pipeline(resolved)
    training = train_data is not None
    check_memory(
        resolved, training=training, batch_size=settings.batch_size, crop=(train_data or {}).get("crop"),
        device="cuda" if _cuda() else "cpu", ema=settings.ema is not None, pipeline=pipe,
    )
    note = ""
    if pipe is None or build:
        pipe = build_pipeline(resolved)
        n = sum(p.numel() for p in pipe.parameters())
        note = f"; pipeline built ({n:,} parameters)" if build else ""
    plan_stages(pipe, settings.effective_stages())
    if data:
        from .data import build_dataset

        for split in ("train", "val", "test"):
            if (resolved.get("data") or {}).get(split) is not None:
                ds = build_dataset(resolved["data"], split, settings.seed)
                if split == "train" and len(ds) < settings.batch_size:
                    raise RestorekitError(
                        f"data.train has {len(ds)} samples, fewer than one batch of train.batch_size={settings.batch_size}"
                    )
        note += "; datasets found"
    return note


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _builtin(cli: CommandRegistry) -> None:
    def conf_plugins(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")

    def conf_components(p: argparse.ArgumentParser) -> None:
        p.add_argument("action", nargs="?", choices=["show"], help="'show NAME' prints one component's options")
        p.add_argument("name", nargs="?", help="component name for 'show'")
        p.add_argument("--kind", help="encoder, blur_estimator, decoder, operator, loss, dataset, metric")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    def conf_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("action", choices=["validate", "resolve"], help="validate a file, or print it fully resolved")
        p.add_argument("file", help="pipeline YAML")
        p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE", help="dotted override, e.g. train.lr=1e-4 (repeatable)")
        p.add_argument("--build", action="store_true", help="(validate) also build the pipeline for real and count parameters")
        p.add_argument("--data", action="store_true", help="(validate) also build the datasets (their folders must exist)")
        p.add_argument("--schema-only", action="store_true",
                       help="(validate) check the sections' schemas only, without building the pipeline on the meta device "
                            "(for a config whose pretrained weight files are on another machine)")

    cli.add("plugins", "list installed plugins with their versions and status", conf_plugins, _cmd_plugins)
    cli.add("components", "list components (or 'components show NAME')", conf_components, _cmd_components)
    cli.add("config", "validate or resolve a pipeline YAML", conf_config, _cmd_config)


def build_registry() -> CommandRegistry:
    """All commands: built-ins, core engine modules, then plugin hooks (errors isolated)."""
    from .plugin_host import get_host

    cli = CommandRegistry()
    _builtin(cli)
    for mod_name in BUILTIN_COMMAND_MODULES:
        cli._source = mod_name
        importlib.import_module(mod_name).add_commands(cli)
    host = get_host()
    for plugin_name, hook in host.command_hooks():
        cli._source = f"plugin '{plugin_name}'"
        try:
            hook(cli=cli)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            print(f"warning: plugin '{plugin_name}' failed to register its commands: {exc}", file=sys.stderr)
    cli._source = "restorekit"
    return cli


def make_parser(cli: CommandRegistry) -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="restorekit", description="Image deblurring toolkit: pipelines, training, evaluation, inference.")
    parser.add_argument("--version", action="version", version=f"restorekit {__version__}")
    parser.add_argument("--debug", "--traceback", action="store_true", dest="debug",
                        help="show the full traceback on errors (accepted anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in cli.commands.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    if issubclass(category, RestorekitWarning):
        print(f"warning: {_one_line(message)}", file=sys.stderr if file is None else file)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


import warnings as _warnings  # noqa: E402

_default_showwarning = _warnings.showwarning


def error_message(exc: BaseException) -> tuple[str, int]:
    """The one ``error:`` line and the exit status for an exception escaping a command."""
    if isinstance(exc, RestorekitError):
        return _one_line(str(exc)), EXIT_ERROR
    if isinstance(exc, KeyError):  # a plain KeyError quotes its message
        return _one_line(exc.args[0] if exc.args else exc), EXIT_ERROR
    if isinstance(exc, OSError):
        return _one_line(os_error_text(exc)), EXIT_ERROR
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        detail = _one_line(str(exc))[:200]
        return (f"out of memory ({detail}); use a smaller image, --tile N, a smaller batch or model"
                if detail else "out of memory; use a smaller image, --tile N, a smaller batch or model"), EXIT_ERROR
    if isinstance(exc, FloatingPointError):
        return _one_line(str(exc)), EXIT_ERROR
    text = _one_line(str(exc))
    return (f"unexpected {type(exc).__name__}: {text} — this may be a bug in restorekit or a plugin; rerun with "
            f"--debug for the traceback and report it"), EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``restorekit`` script and ``python -m restorekit``.

    Every error ends as one ``error: …`` line on stderr and a non-zero exit status
    (:data:`EXIT_ERROR` for mistakes and failures restorekit recognises, :data:`EXIT_USAGE`
    for bad arguments, :data:`EXIT_INTERNAL` for anything unexpected); ``--debug`` (or
    ``--traceback``) anywhere on the line re-raises with the full traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = any(a in DEBUG_FLAGS for a in argv) or os.environ.get("RESTOREKIT_DEBUG", "").strip() not in ("", "0")
    argv = [a for a in argv if a not in DEBUG_FLAGS]
    previous = _warnings.showwarning
    _warnings.showwarning = _show_warning
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("always", RestorekitWarning)
            _warnings.showwarning = _show_warning
            cli = build_registry()
            parser = make_parser(cli)
            args = parser.parse_args(argv)
            args.debug = debug
            if not getattr(args, "command", None):
                parser.print_help()
                return EXIT_USAGE
            code = args._run(args)
            return int(code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if debug:
            raise
        text, code = error_message(exc)
        if is_disk_full(exc) and "no space left" not in text:
            text = f"no space left on device: {text}"
        print(f"error: {text}", file=sys.stderr)
        return code
    finally:
        _warnings.showwarning = previous
