"""The ``farm`` command line. No `bpy` module use.

``main(argv)`` returns the exit code: 0 done, 1 the operation failed, 2 bad input or usage.
Each verb lives in its own module with ``add_parser(subparsers, common)`` (the verb and its
noun), ``add_arguments(parser)`` (what follows the noun) and a ``run(args, ctx)`` that calls
the same :mod:`..api` functions as Blender's operators and prints the result's summary.
Global options are accepted before or after the verb. :func:`verb_parser` gives one verb's
parser alone, for the headless scripts: they take exactly the options ``farm`` takes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ... import __version__
from ..errors import FarmError, disk_error
from .context import Context

# Verbs, in the order `farm --help` lists them. A verb is added here only once it works.
VERB_MODULES: tuple[str, ...] = (
    "init", "plan", "seed", "status", "kill", "replace", "harvest", "archive", "reset",
)

EPILOG = """\
exit codes: 0 done, 1 the operation failed, 2 bad input or usage.
environment: FARM_MANAGER_URL, FARM_VOLUME, FARM_PROJECT, FARM_USER_NAME, FARM_USER_EMAIL,
  FARM_TIMEOUT.
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors, matching farm's convention."""


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options every verb takes. On sub-parsers the defaults are suppressed, so a value given
    before the verb is not overwritten by the sub-parser's default."""
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("global options")
    g.add_argument("--manager", metavar="URL", default=default,
                   help="Flamenco Manager URL (env FARM_MANAGER_URL; default http://localhost:8080)")
    g.add_argument("--volume", metavar="PATH", default=default,
                   help="the farm volume as this machine mounts it (env FARM_VOLUME)")
    g.add_argument("--timeout", metavar="SECONDS", default=default,
                   help="wait this long for each answer of the Manager (env FARM_TIMEOUT; "
                   "default 30)")
    g.add_argument("--json", action="store_true", default=default or False,
                   help="print machine-readable JSON")
    g.add_argument("--yes", "-y", action="store_true", default=default or False,
                   help="do not ask for confirmation")
    g.add_argument("--dry-run", action="store_true", default=default or False,
                   help="show what would be done and change nothing")
    g.add_argument("-v", "--verbose", action="count", default=default or 0,
                   help="say more (repeat for debug output)")
    g.add_argument("-q", "--quiet", action="store_true", default=default or False,
                   help="say only what went wrong")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="farm",
        description="Release management for Flamenco render farms.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"farm {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    common = _common_options(suppress=True)
    for name in VERB_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        module.add_parser(sub, common)
    return parser


def verb_parser(verb: str, prog: str | None = None, description: str | None = None,
                **options: Any) -> argparse.ArgumentParser:
    """The parser of ``farm VERB NOUN ...`` without ``farm VERB NOUN``: what follows the noun
    and the global options, as ``farm`` parses them. Its namespace has ``func`` (the verb's
    ``run``) and ``verb``; :class:`Context` ``.from_args`` reads the global options from it.
    ``options`` go to the verb's ``add_arguments`` (seed's ``items="*"``, say)."""
    if verb not in VERB_MODULES:
        raise ValueError(f"farm has no verb {verb!r}")
    module = importlib.import_module(f".{verb}", __name__)
    parser = _Parser(
        prog=prog or f"farm {verb}",
        description=description,
        epilog=getattr(module, "EPILOG", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(suppress=False)],
    )
    module.add_arguments(parser, **options)
    parser.set_defaults(func=module.run, verb=verb)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        ctx = Context.from_args(args)
    except FarmError as exc:
        print(f"farm: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    try:
        return int(args.func(args, ctx))
    except FarmError as exc:
        ctx.error(str(exc))
        return exc.exit_code
    except OSError as exc:  # the core reports these as DiskError; this is the safety net
        ctx.error(str(disk_error(exc, f"finish `farm {args.verb}`")))
        return 1
    except KeyboardInterrupt:
        ctx.error("Interrupted; what was done so far is kept and the command can be run again.")
        return 1
    finally:
        ctx.close()


def console_main() -> None:
    sys.exit(main())
