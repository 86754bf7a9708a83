#!/usr/bin/env python3
"""The long version of the crash harness: bigger releases, every kill point, and kills of the
rerun too (a command killed, its rerun killed again, then run to the end).

    .venv/bin/python scripts/soak.py                  # one round: 9 jobs of 24 frames, ~15 min
    .venv/bin/python scripts/soak.py --rounds 5 --jobs 20 --frames 1-48 --seed 7
    .venv/bin/python scripts/soak.py --properties     # the property tests, wide random search

Each round checks the same invariants as tests/robust (records parse and match the Manager,
no job submitted twice, every frame exactly once, no temporary file, archives absent or
complete). Prints a line per series and every failure; exit code 1 if any.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def double_kills(series: object, lab: object, samples: int, rng: random.Random) -> list[str]:
    """Kill at N, kill the rerun at M, then run to the end; the invariants must hold."""
    from tests.robust.crash import Series, check_point, set_up
    from tests.robust.lab import Lab

    assert isinstance(series, Series) and isinstance(lab, Lab)
    state, argv, before = set_up(series, lab)
    total = int(lab.farm(argv).get("ops", 0))
    failures = []
    for _ in range(samples):
        first, second = rng.randint(1, total), rng.randint(1, total)
        lab.restore(state)
        lab.farm(argv, kill_at=first)
        lab.farm(argv, kill_at=second)
        problems = check_point(lab, series, before, lab.farm(argv))
        failures += [f"{series.name}: killed at {first}, then at {second}: {p}"
                     for p in problems]
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=6, help="jobs added to the 3 standard ones")
    parser.add_argument("--frames", default="1-24", help="frames of every job")
    parser.add_argument("--double", type=int, default=30,
                        help="double kills per series and round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", help="comma-separated series (default: all)")
    parser.add_argument("--properties", action="store_true",
                        help="instead, run tests/robust/test_properties.py with Hypothesis's "
                             "wide random search (2,000 new examples a test, every run different)")
    args = parser.parse_args(argv)
    if args.properties:
        env = {**os.environ, "HYPOTHESIS_PROFILE": "wide"}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(ROOT / "tests/robust/test_properties.py")],
                              cwd=ROOT, env=env, check=False).returncode

    from tests.robust.crash import SERIES, describe, run_series
    from tests.robust.lab import ForkServer, Lab, robust_blends

    names = args.only.split(",") if args.only else list(SERIES)
    rng = random.Random(args.seed)
    blends = robust_blends()
    server = ForkServer()
    failures: list[str] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="farm-soak-") as tmp:
            n = 0
            for round_ in range(1, args.rounds + 1):
                for name in names:
                    for kind in ("every point", "double kills"):
                        n += 1
                        lab = Lab.create(Path(tmp) / f"lab{n}", blends, server,
                                         extra_jobs=args.jobs)
                        lab.plan_options = ["--frames", args.frames]
                        t0 = time.monotonic()
                        try:
                            if kind == "every point":
                                result = run_series(SERIES[name], lab, 1_000_000)
                                line = (f"{result.survived}/{len(result.points)} kill points "
                                        f"(T={result.total_ops})")
                                if not result.ok:
                                    failures.append(describe(result, limit=20))
                            else:
                                found = double_kills(SERIES[name], lab, args.double, rng)
                                line = f"{args.double - len({f.split(':')[1] for f in found})}" \
                                       f"/{args.double} double kills"
                                failures += found
                        finally:
                            lab.close()
                        print(f"round {round_} {name:20} {kind:12} {line:32} "
                              f"{time.monotonic() - t0:6.1f} s", flush=True)
    finally:
        server.close()
    print(f"{len(failures)} failure(s) in {time.monotonic() - started:.0f} s")
    for failure in failures:
        print(f"  - {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
