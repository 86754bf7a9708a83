#!/usr/bin/env python3
"""Nothing lost: run the robustness harness and print what it survived.

    .venv/bin/python scripts/robustness_report.py --quick   # what CI runs (tests/robust), ~2 min
    .venv/bin/python scripts/robustness_report.py           # every kill point of every command

Tables: commands x kill points survived (SIGKILL at file and HTTP operations, then the same
command again); Manager faults and disk faults injected and survived; hostile inputs tried and
refused cleanly; two writers at once. Every failure is listed; the exit code is 1 if there is
any. ``--only crash,disk,manager,input,concurrency`` runs a part; ``--json FILE`` writes the
figures. The harness lives in tests/robust/ (see its README); scripts/soak.py runs longer.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS = ("crash", "disk", "manager", "input", "concurrency")
QUICK = {"points": 50, "disk_points": 5}
FULL = {"points": 100_000, "disk_points": 15}  # every kill point: T is at most a few hundred
DISK_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EROFS)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Report:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.failures: list[str] = []
        self.figures: dict[str, Any] = {}

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def fail(self, text: str) -> None:
        self.failures.append(text)


def _lab_maker(base: Path, server: Any, blends: dict[str, Path],
               **options: Any) -> Callable[[], Any]:
    from tests.robust.lab import Lab

    count = [0]

    def make() -> Any:
        count[0] += 1
        return Lab.create(base / f"lab{count[0]}", blends, server, **options)

    return make


def crash_part(report: Report, make: Callable[[], Any], points: int) -> None:
    from tests.robust.crash import COMMANDS, SERIES, run_series

    rows = []
    figures = {}
    for command, names in COMMANDS.items():
        for name in names:
            lab = make()
            try:
                result = run_series(SERIES[name], lab, points)
            finally:
                lab.close()
            killed = sum(p.killed for p in result.points)
            rows.append((command, name, result.total_ops, len(result.points), killed,
                         result.survived, f"{result.seconds:.1f} s"))
            figures[name] = {"ops": result.total_ops, "points": len(result.points),
                             "survived": result.survived}
            for problem in result.setup_problems:
                report.fail(f"crash {name}: {problem}")
            for p in result.failures:
                report.fail(f"crash {name}: killed at operation {p.point} ({p.op}): "
                            + "; ".join(p.problems[:3]))
    report.say("Crashes: SIGKILL before the Nth file or HTTP operation, then the same command "
               "again")
    report.say(table(rows, ("command", "series", "operations", "kill points", "killed",
                            "survived", "time")))
    total = sum(r[3] for r in rows)
    report.say(f"{sum(r[5] for r in rows)} of {total} kill points survived.\n")
    report.figures["crash"] = figures


def disk_part(report: Report, make: Callable[[], Any], points: int) -> None:
    from tests.robust.crash import SERIES, run_disk_faults

    rows = []
    for name, series in SERIES.items():
        if name == "kill":
            continue  # writes nothing
        lab = make()
        try:
            results = run_disk_faults(series, lab, DISK_ERRNOS, points)
        finally:
            lab.close()
        for err in DISK_ERRNOS:
            mine = [r for r in results if r.errno == err]
            rows.append((name, errno.errorcode[err], len(mine), sum(r.ok for r in mine)))
        for r in results:
            if not r.ok:
                report.fail(f"disk {r.name} ({r.op}): " + "; ".join(r.problems[:3]))
    report.say("Disk faults: the Nth disk operation fails, the command must fail clearly, "
               "lose nothing, and succeed again")
    report.say(table(rows, ("series", "error", "injected", "survived")))
    report.say(f"{sum(r[3] for r in rows)} of {sum(r[2] for r in rows)} disk faults "
               "survived.\n")
    report.figures["disk"] = {"injected": sum(r[2] for r in rows),
                              "survived": sum(r[3] for r in rows)}


def manager_part(report: Report, make: Callable[[], Any]) -> None:
    from tests.robust.faults import SCENARIOS, run_fault

    rows = []
    for name in SCENARIOS:
        lab = make()
        try:
            outcome = run_fault(name, lab)
        finally:
            lab.close()
        rows.append((name, "survived" if outcome.ok else "FAILED"))
        for problem in outcome.problems:
            report.fail(f"manager fault {name}: {problem}")
    report.say("Manager faults")
    report.say(table(rows, ("fault", "outcome")))
    survived = sum(r[1] == "survived" for r in rows)
    report.say(f"{survived} of {len(rows)} Manager faults survived.\n")
    report.figures["manager"] = {"injected": len(rows), "survived": survived}


def input_part(report: Report, make: Callable[[], Any]) -> None:
    from tests.robust.badinput import all_cases, can_mount, prepare_table, run_case

    lab = make()
    results = []
    try:
        state = prepare_table(lab)
        for case in all_cases():
            results.append(run_case(case, lab, state))
    finally:
        lab.close()
    by_field: dict[str, list[Any]] = {}
    for r in results:
        by_field.setdefault(r.case.field, []).append(r)
        for problem in r.problems:
            report.fail(f"input {r.case.name}: {problem}")
    rows = [(f, len(rs), sum(r.ok for r in rs)) for f, rs in by_field.items()]
    how = "a read-only bind mount" if can_mount() else "EROFS simulated at the write layer"
    report.say(f"Hostile inputs through the CLI (read-only volume: {how})")
    report.say(table(rows, ("field", "tried", "handled cleanly")))
    links = sum(1 for r in results if r.case.succeeds)
    report.say(f"{sum(r.ok for r in results)} of {len(results)} hostile inputs handled "
               f"cleanly: {len(results) - links} refused (exit 1 or 2, the problem named, "
               f"nothing changed), {links} links out of the volume stored or removed as links, "
               "never followed (nothing outside changed).\n")
    report.figures["input"] = {"tried": len(results), "refused": sum(r.ok for r in results)}


def concurrency_part(report: Report, make: Callable[[], Any]) -> None:
    from tests.robust.concurrency import SCENARIOS, run_scenario

    rows = []
    for name in SCENARIOS:
        lab = make()
        try:
            problems = run_scenario(name, lab)
        finally:
            lab.close()
        rows.append((name, "consistent" if not problems else "FAILED"))
        for problem in problems:
            report.fail(f"concurrency {name}: {problem}")
    report.say("Two writers at once")
    report.say(table(rows, ("scenario", "outcome")))
    report.say("")
    report.figures["concurrency"] = {"scenarios": len(rows),
                                     "consistent": sum(r[1] != "FAILED" for r in rows)}


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="what CI runs: 50 kill points "
                        "per command, 5 disk fault points per command and error")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--points", type=int, help="kill points per command (default: quick "
                        "50, full every operation)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    mode = QUICK if args.quick else FULL
    points = args.points or mode["points"]

    from tests.robust.lab import ForkServer, robust_blends

    report = Report(out or sys.stdout)
    started = time.monotonic()
    blends = robust_blends()
    server = ForkServer()
    try:
        with tempfile.TemporaryDirectory(prefix="farm-robust-") as tmp:
            make = _lab_maker(Path(tmp), server, blends)
            if "crash" in parts:
                crash_part(report, make, points)
            if "disk" in parts:
                disk_part(report, make, mode["disk_points"])
            if "manager" in parts:
                manager_part(report, make)
            if "input" in parts:
                input_part(report, make)
            if "concurrency" in parts:
                concurrency_part(report, make)
    finally:
        server.close()
    seconds = time.monotonic() - started
    report.figures["seconds"] = round(seconds, 1)
    report.figures["failures"] = report.failures
    if args.json:
        args.json.write_text(json.dumps(report.figures, indent=2) + "\n")
    if report.failures:
        report.say(f"{len(report.failures)} failure(s):")
        for failure in report.failures:
            report.say(f"  - {failure}")
    else:
        report.say("No failure.")
    report.say(f"({'quick' if args.quick else 'full'} mode, {seconds:.0f} s, "
               f"{os.cpu_count()} CPU)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
