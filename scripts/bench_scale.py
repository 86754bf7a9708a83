"""Benchmark: one release of many jobs through the real command line, step by step.

On the Flamenco Manager emulator (running in this process, spec validation off), a release
of ``--jobs`` one-frame jobs goes through every verb a person runs on it, each as
``python -m farm_addon ...`` in a child process whose stderr is a pseudo-terminal (so the
progress bar is drawn as a person would see it, and the peak memory is that step's alone):

1. ``plan release`` of N .blend files (copies, under distinct names, of one generated file);
2. ``status RELEASE``;
3. ``kill RELEASE.jobs '*' --dry-run`` (a query matching every job);
4. ``replace RELEASE.jobs --stale`` after ~1% of the sources were touched (new content);
5. ``harvest release`` after the emulator's instant worker rendered every frame;
6. ``archive release``.

Baselines, in the same run: the whole sequence again at N/10 (so growth is visible: linear
time gives the same seconds per job at both sizes), and for planning a plain ``cp -r`` of the
same files. Per step: seconds, peak MiB of the child, KiB per job ((peak - the CLI's idle
peak) / N) and whether a progress bar was drawn::

    python scripts/bench_scale.py              # 10,000 jobs (and 1,000 as the baseline)
    python scripts/bench_scale.py --quick      # 1,000 jobs (and 100)
    python scripts/bench_scale.py --jobs 3000 --json

Exit status: 0 when every step finished; 1 when one failed.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from farm_addon.core.fs.volume import Volume  # noqa: E402
from tests.blendgen import make_blends  # noqa: E402
from tests.emulator import Emulator  # noqa: E402

RELEASE = "scale"

# ``python -m farm_addon`` that writes its peak resident memory (VmHWM: this process alone;
# ru_maxrss would include the benchmark's own, which the child inherits until it execs).
LAUNCH = """\
import atexit, os, runpy, sys
def _hwm():
    with open("/proc/self/status") as f, open(os.environ["FARM_BENCH_HWM"], "w") as out:
        out.write(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
atexit.register(_hwm)
sys.argv[0] = "farm_addon"
runpy.run_module("farm_addon", run_name="__main__", alter_sys=True)
"""


@dataclass
class Step:
    step: str
    jobs: int
    seconds: float
    cpu_s: float  # the child's user + system time: what the load of other processes hides
    peak_mib: float
    kib_per_job: float
    progress_drawn: bool
    exit_code: int


def source_blend(cache: Path) -> Path:
    path = cache / "scale_source" / "scale_source.blend"
    if not path.is_file():
        made = make_blends(cache, [{"kind": "simple", "name": "scale_source",
                                    "frames": [1, 1, 1]}])
        path = made["scale_source"]
    return path


def run_cli(args: list[str], env: dict[str, str], log: Path,
            profile: Path | None = None) -> tuple[float, float, float, bool, int]:
    """Run ``python -m farm_addon ARGS``; (seconds, CPU seconds, peak MiB, bar drawn, exit
    code).""

    stderr is a pseudo-terminal read by a thread (kept in ``log``), stdout goes to ``log``;
    with ``profile``, the child runs under cProfile and writes its statistics there."""
    hwm = log.with_suffix(".hwm")
    hwm.unlink(missing_ok=True)
    env = {**env, "FARM_BENCH_HWM": str(hwm)}
    python = ([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "farm_addon"]
              if profile else [sys.executable, "-c", LAUNCH])
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([*python, *args], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
        os.close(slave)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    reader.join(timeout=5)
    os.close(master)
    err = b"".join(chunks)
    with log.open("ab") as out:
        out.write(b"\n--- stderr ---\n" + err)
    drawn = re.search(rb"\r[^\r\n]* \[[#.]+\] \d+/\d+", err) is not None
    cpu = usage.ru_utime + usage.ru_stime
    peak = int(hwm.read_text()) / 1024 if hwm.is_file() else usage.ru_maxrss / 1024
    return seconds, cpu, peak, drawn, proc.returncode


def run_sequence(jobs: int, blend: Path, tmp: Path, logs: Path, say: bool,
                 profile: bool = False) -> tuple[list[Step], float, float]:
    """Every step for a release of ``jobs``; (steps, cp seconds, idle CLI peak MiB)."""
    work = tmp / f"n{jobs}"
    sources = work / "sources"
    sources.mkdir(parents=True)
    for i in range(jobs):
        # Hard links would share one inode (and the touch below would change them all).
        shutil.copyfile(blend, sources / f"asset_{i:05d}.blend")
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(sources), str(work / "copied")], check=True)
    cp_s = time.perf_counter() - start
    shutil.rmtree(work / "copied")

    emu = Emulator(version="3.8.5", storage=work / "volume", worker="instant", validate=False)
    url = emu.start()
    steps: list[Step] = []
    try:
        Volume.init(emu.storage)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_MANAGER_URL": url,
               "FARM_VOLUME": str(emu.storage), "FARM_TIMEOUT": "120", "COLUMNS": "100"}
        idle = run_cli(["--version"], env, logs / f"n{jobs}-idle.log")[2]

        def step(name: str, args: list[str]) -> Step:
            seconds, cpu, peak, drawn, code = run_cli(
                args, env, logs / f"n{jobs}-{name}.log",
                logs / f"n{jobs}-{name}.prof" if profile else None)
            result = Step(name, jobs, round(seconds, 2), round(cpu, 2), round(peak, 1),
                          round(max(0.0, peak - idle) * 1024 / jobs, 2), drawn, code)
            steps.append(result)
            if say:
                print(f"  n={jobs:<6} {name:<8} {seconds:8.2f} s (cpu {cpu:7.2f} s) "
                      f"{peak:8.1f} MiB "
                      f"{result.kib_per_job:7.2f} KiB/job  bar={'yes' if drawn else 'no'}"
                      f"  exit={code}", flush=True)
            return result

        step("plan", ["plan", "release", RELEASE, str(sources), "--frames", "1", "--yes"])
        step("status", ["status", RELEASE])
        step("kill", ["kill", f"{RELEASE}.jobs", "*", "--dry-run"])
        emu.run_worker()
        touched = max(1, jobs // 100)
        for i in range(touched):
            path = sources / f"asset_{i * (jobs // touched):05d}.blend"
            with path.open("ab") as f:
                f.write(b"\0" * 16)  # still a .blend to read; a new checksum
        step("replace", ["replace", f"{RELEASE}.jobs", "--stale", "--yes"])
        emu.run_worker()
        step("harvest", ["harvest", "release", RELEASE, "--yes"])
        step("archive", ["archive", "release", RELEASE, "--yes"])
    finally:
        emu.stop()
    shutil.rmtree(work, ignore_errors=True)
    return steps, cp_s, idle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000, help="jobs (default 10000)")
    parser.add_argument("--quick", action="store_true", help="1,000 jobs")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench",
                        help="where the source .blend is kept (default .cache/bench)")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep each step's output here (default: a temporary folder)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the N/10 run")
    parser.add_argument("--profile", action="store_true",
                        help="run each step under cProfile (LOGS/nN-STEP.prof; slower)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    jobs = 1000 if args.quick else args.jobs
    if jobs < 10:
        parser.error("--jobs must be 10 or more")

    blend = source_blend(args.cache.absolute())
    with tempfile.TemporaryDirectory(prefix="farm-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        logs = args.logs.absolute() if args.logs else tmp / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        say = not args.json
        runs = {}
        for n in ([jobs] if args.no_baseline else [jobs // 10, jobs]):
            if say:
                print(f"release of {n} jobs (Manager: the emulator, 3.8.5 API):", flush=True)
            runs[n] = run_sequence(n, blend, tmp, logs, say, args.profile)
        if args.logs is None:
            failed_logs = [s for steps, _, _ in runs.values() for s in steps if s.exit_code]
            for s in failed_logs:
                text = (logs / f"n{s.jobs}-{s.step}.log").read_text(errors="replace")
                print(f"--- {s.step} at n={s.jobs} failed:\n{text[-3000:]}", file=sys.stderr)
    steps, cp_s, idle = runs[jobs]
    base = runs.get(jobs // 10)
    ok = all(s.exit_code == 0 for run in runs.values() for s in run[0])
    summary = {
        "bench": "bench_scale", "manager": "emulator 3.8.5 API", "jobs": jobs,
        "idle_cli_mib": round(idle, 1),
        "cp_s": round(cp_s, 3), "ok": ok,
        "steps": [asdict(s) for s in steps],
        "baseline": ({"jobs": jobs // 10, "cp_s": round(base[1], 3),
                      "steps": [asdict(s) for s in base[0]]} if base else None),
        "self_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(summary))
        return 0 if ok else 1
    small = {s.step: s for s in base[0]} if base else {}
    print(f"\n{'step':<8} {'N':>6} {'s':>8} {'cpu s':>7} {'s/job ms':>9} {'peak MiB':>9} "
          f"{'KiB/job':>8} {'bar':>4}   at N/10: {'s':>7} {'cpu s':>7} {'peak MiB':>9}  growth")
    for s in steps:
        b = small.get(s.step)
        growth = f"{s.cpu_s / b.cpu_s:5.1f}x cpu" if b and b.cpu_s else ""
        tail = f"{b.seconds:7.2f} {b.cpu_s:7.2f} {b.peak_mib:9.1f}  {growth}" if b else ""
        print(f"{s.step:<8} {s.jobs:>6} {s.seconds:8.2f} {s.cpu_s:7.2f} "
              f"{1000 * s.seconds / s.jobs:9.2f} "
              f"{s.peak_mib:9.1f} {s.kib_per_job:8.2f} {'yes' if s.progress_drawn else 'no':>4}"
              f"   {'':9}{tail}")
    plan = steps[0]
    print(f"baseline: `cp -r` of the same {jobs} files {cp_s:.2f} s (plan is "
          f"{plan.seconds / cp_s:.0f}x that)" + (f"; at N/10 {base[1]:.2f} s" if base else ""))
    print(f"idle CLI (`farm --version`) peak {idle:.1f} MiB; KiB/job is above that. growth: "
          "CPU seconds at N over those at N/10 (10x is linear; start-up makes it less).")
    fields = {"jobs": jobs, "ok": "yes" if ok else "no",
              **{f"{s.step}_s": s.seconds for s in steps},
              **{f"{s.step}_mib": s.peak_mib for s in steps}}
    print("BENCH bench_scale " + " ".join(f"{k}={v}" for k, v in fields.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
