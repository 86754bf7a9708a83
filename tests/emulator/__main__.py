"""Run the emulator on its own: ``python -m tests.emulator --port 8080 --worker instant``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .emulator import WORKER_MODES, Emulator


def _variable(text: str) -> tuple[str, str, str]:
    """``NAME:PLATFORM=VALUE``."""
    try:
        name_platform, value = text.split("=", 1)
        name, platform = name_platform.split(":", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME:PLATFORM=VALUE, got {text!r}") from None
    return name, platform, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator",
                                     description="Emulated Flamenco Manager for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--version", default="3.8.5", help="Manager version to emulate")
    parser.add_argument("--storage", type=Path, default=None,
                        help="shared storage folder (default: a new temporary folder)")
    parser.add_argument("--worker", choices=WORKER_MODES, default="instant")
    parser.add_argument("--shaman", action="store_true", help="enable the Shaman API")
    parser.add_argument("--spec", type=Path, default=None, help="OpenAPI spec to check against")
    parser.add_argument("--no-validate", action="store_true", help="skip the spec checks")
    parser.add_argument("--worker-tag", action="append", default=[], metavar="NAME")
    parser.add_argument("--variable", action="append", default=[], type=_variable,
                        metavar="NAME:PLATFORM=VALUE", help="a two-way variable value")
    parser.add_argument("--task-seconds", type=float, default=0.0,
                        help="time each task stays active")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    variables: dict[str, dict[str, str]] | None = None
    if args.variable:
        variables = {}
        for name, platform, value in args.variable:
            variables.setdefault(name, {})[platform] = value
    emu = Emulator(version=args.version, storage=args.storage, worker=args.worker,
                   spec_path=args.spec, shaman=args.shaman, validate=not args.no_validate,
                   variables=variables, worker_tags=args.worker_tag, host=args.host,
                   port=args.port, task_seconds=args.task_seconds)
    url = emu.start()
    if args.worker != "none":
        emu.start_worker_thread()
    print(f"Flamenco Manager emulator {emu.version} at {url}", flush=True)
    print(f"storage: {emu.storage}  worker: {args.worker}  (Ctrl+C stops)", flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    reported = 0
    try:
        while not stopped.wait(0.5):
            for violation in emu.violations[reported:]:
                print(f"SPEC VIOLATION: {violation}", file=sys.stderr, flush=True)
            reported = len(emu.violations)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    print("stopped", flush=True)
    return 1 if emu.violations else 0


if __name__ == "__main__":
    sys.exit(main())
