"""The ``restorekit`` command line.

Built-in commands: ``plugins``, ``components``, ``config validate|resolve``; the engine adds
``train``, ``eval``, ``deblur`` through :data:`BUILTIN_COMMAND_MODULES`, and any plugin can
add more with the ``register_commands(cli)`` hook (the ``svmap`` plugin adds ``demo``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .errors import RestorekitError

BUILTIN_COMMAND_MODULES: tuple[str, ...] = ("restorekit.engine.commands", "restorekit.inference.commands", "restorekit.weights_cli")
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
    from .pipeline import build_pipeline

    resolved = resolve_config(args.file, args.override)
    if args.action == "validate":
        if args.build:
            pipe = build_pipeline(resolved)
            n = sum(p.numel() for p in pipe.parameters())
            print(f"{args.file}: valid; pipeline built ({n:,} parameters)")
        else:
            print(f"{args.file}: valid")
        return 0
    sys.stdout.write(dump_yaml(resolved))
    return 0


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
        p.add_argument("--build", action="store_true", help="(validate) also build the pipeline and count parameters")

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
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in cli.commands.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``restorekit`` script and ``python -m restorekit``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_tb = "--traceback" in argv
    try:
        cli = build_registry()
        parser = make_parser(cli)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        code = args._run(args)
        return int(code or 0)
    except RestorekitError as exc:
        if show_tb:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, KeyError) as exc:
        if show_tb:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
