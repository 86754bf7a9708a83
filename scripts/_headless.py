"""Shared by the headless scripts (``blender -b FILE --python scripts/<name>.py -- ARGS``).

Finds farm: the Farm extension enabled in this Blender (its preferences give the defaults),
else the ``farm_addon`` package of the repository beside this script (the ``FARM_*``
environment gives them). Command-line options win over both.

A script parses what follows ``--`` with the ``farm`` CLI's own parser for its verb
(:func:`parser`), so it takes every option ``farm VERB NOUN`` takes, plus a few of its own.
Its ``main(farm, args)`` calls the core facade and prints what it did; :func:`run` turns
farm's errors into a message on stderr and the exit code (1 failed, 2 bad input), and makes
sure nothing is left registered that would keep Blender from exiting.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def script_args(argv: Sequence[str] | None = None) -> list[str]:
    """The arguments after ``--`` (Blender's own come before it)."""
    argv = list(sys.argv if argv is None else argv)
    return argv[argv.index("--") + 1:] if "--" in argv else []


@dataclasses.dataclass
class Farm:
    package: str  # "bl_ext.<repo>.farm" or "farm_addon"
    api: Any  # the facade (farm_addon.blender.coreapi)
    errors: Any  # farm_addon.core.errors
    progress: Any  # farm_addon.core.progress
    base_settings: Callable[[], Any]
    settings_type: Any

    def module(self, name: str) -> Any:
        """``farm_addon.<name>`` of the farm that was found (``core.cli.plan``, say)."""
        return importlib.import_module(f"{self.package}.{name}")

    def settings(self, args: argparse.Namespace) -> Any:
        """The preferences' or environment's settings, with the command line's on top."""
        timeout = args.timeout
        overrides = {
            "manager_url": args.manager, "volume": args.volume, "project": args.project,
            "user_name": args.user_name, "user_email": args.user_email,
            "timeout": None if timeout is None else self.module(
                "core.settings").parse_timeout(timeout),
        }
        base = self.base_settings().model_dump()
        base.update({k: v for k, v in overrides.items() if v is not None})
        return self.settings_type.model_validate(base)


def load_farm() -> Farm:
    import bpy

    for name in bpy.context.preferences.addons.keys():  # noqa: SIM118 (a bpy collection)
        if name.startswith("bl_ext.") and name.endswith(".farm"):
            prefs = importlib.import_module(f"{name}.blender.prefs")
            return _farm(name, lambda prefs=prefs: prefs.settings_from_prefs(bpy.context))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    settings = importlib.import_module("farm_addon.core.settings")
    return _farm("farm_addon", settings.Settings.from_env)


def _farm(package: str, base_settings: Callable[[], Any]) -> Farm:
    return Farm(
        package=package,
        api=importlib.import_module(f"{package}.blender.coreapi"),
        errors=importlib.import_module(f"{package}.core.errors"),
        progress=importlib.import_module(f"{package}.core.progress"),
        base_settings=base_settings,
        settings_type=importlib.import_module(f"{package}.core.settings").Settings,
    )


def parser(farm: Farm, verb: str, prog: str, description: str,
           **options: Any) -> argparse.ArgumentParser:
    """``farm VERB NOUN``'s own parser (its arguments and the global options), for the script
    ``scripts/<prog>.py``, with the settings a script may give beyond farm's."""
    cli = farm.module("core.cli")
    p: argparse.ArgumentParser = cli.verb_parser(
        verb, prog=f"blender -b [FILE.blend] --python scripts/{prog}.py --",
        description=description, **options)
    g = p.add_argument_group("farm settings beyond farm's (default: the Farm preferences, or "
                             "FARM_* variables)")
    g.add_argument("--project", help="project name recorded on jobs")
    g.add_argument("--user-name", help="your name, recorded on jobs")
    g.add_argument("--user-email", help="your e-mail address, recorded on jobs")
    return p


def make_progress(farm: Farm, quiet: bool) -> Any:
    """A progress that prints a line per step (and at most twice a second within one)."""

    class Lines(farm.progress.Progress):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self._shown = 0.0

        def on_update(self) -> None:
            now = time.monotonic()
            if quiet or (self.done not in (0, self.total) and now - self._shown < 0.5):
                return
            self._shown = now
            print(f"  {self.label or 'working'}: {self.done}/{self.total}", flush=True)

        def on_message(self, text: str) -> None:
            if not quiet:
                print(f"  {text}", flush=True)

    return Lines()


def as_json(result: Any) -> str:
    if hasattr(result, "as_dict"):
        data = result.as_dict()
    elif dataclasses.is_dataclass(result):
        data = dataclasses.asdict(result)  # type: ignore[arg-type]
    else:
        data = result
    return json.dumps(data, indent=2, default=str)


def run(main: Callable[[Farm, argparse.Namespace], int],
        build: Callable[[Farm], argparse.ArgumentParser],
        argv: Sequence[str] | None = None) -> int:
    """Find farm, parse with ``build(farm)``, run ``main`` and return the exit code: 0 done,
    1 failed, 2 bad input."""
    farm = load_farm()
    try:
        args = build(farm).parse_args(script_args(argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return main(farm, args)
    except farm.errors.FarmError as exc:
        print(f"farm: error: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except Exception:
        traceback.print_exc()
        print("farm: error: an unexpected error (above); nothing more was done.",
              file=sys.stderr, flush=True)
        return 1


def exit_with(code: int) -> None:
    """End the script. A plain ``sys.exit`` also ends ``blender -b`` with that code."""
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
