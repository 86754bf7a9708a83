"""What every verb gets: settings, output helpers, a progress bar. No `bpy` module use."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..settings import Settings, parse_timeout
from .term import TerminalProgress


@dataclass
class Context:
    settings: Settings
    json: bool = False
    yes: bool = False
    dry_run: bool = False
    verbosity: int = 0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        timeout = getattr(args, "timeout", None)
        settings = Settings.from_env(
            manager_url=args.manager, volume=args.volume,
            timeout=None if timeout is None else parse_timeout(timeout))
        verbosity = -1 if args.quiet else int(args.verbose or 0)
        return cls(settings=settings, json=bool(args.json), yes=bool(args.yes),
                   dry_run=bool(args.dry_run), verbosity=verbosity)

    def say(self, text: str) -> None:
        """Normal output; silenced by -q and by --json (JSON owns stdout)."""
        if self.verbosity >= 0 and not self.json:
            print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        if self.verbosity > 0:
            print(text, file=self.err, flush=True)

    def error(self, text: str) -> None:
        print(f"farm: error: {text}", file=self.err, flush=True)

    def emit_json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str), file=self.out, flush=True)

    def progress(self, label: str = "") -> TerminalProgress:
        """A progress bar on stderr; silent with -q or --json."""
        bar = TerminalProgress(self.err, quiet=self.verbosity < 0 or self.json)
        bar.label = label
        return bar

    def on_close(self, closer: Any) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            self._closers.pop().close()
