"""Two writers at once: two `farm` processes planning or harvesting the same release, and the
CLI together with "Blender" (a second process calling :mod:`farm_addon.core.api`, as the
add-on's operators do). One waits for the release's lock or refuses with a clear message;
the record stays consistent with the Manager and no frame is lost or doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

from farm_addon.core.fs.atomic import Busy
from farm_addon.core.harvest.run import load_manifest
from farm_addon.core.release.record import RecordStore
from tests.robust.crash import rendered
from tests.robust.lab import (
    ROOT,
    Lab,
    frames_exactly_once,
    no_temporary_files,
    records_match_manager,
)

BLENDER = textwrap.dedent("""\
    import json, sys, traceback
    from pathlib import Path
    from farm_addon.core import api
    from farm_addon.core.errors import FarmError
    from farm_addon.core.release.plan import PlanRequest
    from farm_addon.core.settings import Settings
    what, args = sys.argv[1], json.loads(sys.argv[2])
    settings = Settings.from_env()
    try:
        if what == "harvest":
            api.harvest_release(settings, args["release"])
        elif what == "plan":
            api.plan_release(settings, PlanRequest(release=args["release"],
                             sources=args["sources"], add=args.get("add", False),
                             cwd=Path(args["cwd"])))
        elif what == "replace":
            api.replace_job(settings, args["job"], release=args["release"])
        elif what == "hold":  # hold the release's lock, as an operator running in Blender does
            from farm_addon.core.fs.atomic import FileLock
            with FileLock(Path(args["lock"]), 10, "Blender: replacing chair-oak"):
                print("holding", flush=True)
                import time; time.sleep(args["seconds"])
        print("ok", flush=True)
    except FarmError as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(exc.exit_code)
""")


@dataclass
class Proc:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def _env(lab: Lab) -> dict[str, str]:
    return {**lab.env, "PYTHONPATH": str(ROOT)}


def cli(lab: Lab, argv: list[str]) -> subprocess.Popen[str]:
    """The real `farm` command in its own process (not the fork server: these run at once)."""
    return subprocess.Popen([sys.executable, "-m", "farm_addon", *argv], cwd=lab.work,
                            env=_env(lab), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def blender(lab: Lab, what: str, **args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", BLENDER, what, json.dumps(args)],
                            cwd=lab.work, env=_env(lab), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Proc:
    out, err = proc.communicate(timeout=timeout)
    return Proc(proc.returncode, out, err)


def outcome(name: str, run: Proc, *, ok_codes: tuple[int, ...] = (0,),
            refusals: tuple[str, ...] = ()) -> list[str]:
    """One of two concurrent writers: done, or refused with one of ``refusals``' words."""
    if "Traceback" in run.err:
        return [f"{name} printed a traceback: {run.err[-600:]}"]
    if run.code in ok_codes:
        return []
    if run.code in (1, 2) and any(word in run.text for word in refusals):
        return []
    return [f"{name} exited {run.code}: {run.text[-500:]}"]


def consistent(lab: Lab, before: dict[str, str]) -> list[str]:
    after = lab.inventory()
    return (records_match_manager(lab) + no_temporary_files(after)
            + frames_exactly_once(before, after))


BUSY = ("is locked by", "already exists", "another process", "not ready to harvest")


def two_plans(lab: Lab) -> list[str]:
    before = lab.inventory().frames
    first, second = cli(lab, lab.plan_argv()), cli(lab, lab.plan_argv())
    runs = [finish(first), finish(second)]
    problems = [p for i, run in enumerate(runs)
                for p in outcome(f"plan #{i + 1}", run, refusals=BUSY)]
    if not any(run.code == 0 for run in runs):
        problems.append("neither plan succeeded")
    problems += consistent(lab, before)
    if sorted(lab.record().job_names) != sorted(lab.sources):
        problems.append(f"the record has {lab.record().job_names}")
    if len(lab.manager_jobs(live=False)) != len(lab.sources):
        problems.append(f"{len(lab.manager_jobs(live=False))} jobs on the Manager")
    return problems


def two_harvests(lab: Lab) -> list[str]:
    rendered(lab)
    before = lab.inventory().frames
    argv = ["harvest", "release", lab.release]
    first, second = cli(lab, argv), cli(lab, argv)
    runs = [finish(first), finish(second)]
    problems = [p for i, run in enumerate(runs)
                for p in outcome(f"harvest #{i + 1}", run, refusals=BUSY)]
    live = [f for f in load_manifest(lab.volume, lab.release)["files"]
            if not f.get("superseded")]
    if len(live) != len(before):
        problems.append(f"{len(live)} files delivered of {len(before)}")
    return problems + consistent(lab, before)


def cli_and_blender_add_jobs(lab: Lab) -> list[str]:
    """The CLI adds one job while Blender adds another to the same release."""
    rendered(lab)
    before = lab.inventory().frames
    extra = {}
    for name in ("x", "y"):
        extra[name] = lab.work / "more" / f"{name}.blend"
        extra[name].parent.mkdir(exist_ok=True)
        extra[name].write_bytes(lab.sources["a"].read_bytes())
    runs = [finish(cli(lab, ["plan", "release", lab.release, str(extra["x"]), "--add"])),
            finish(blender(lab, "plan", release=lab.release, sources=[str(extra["y"])],
                           add=True, cwd=str(lab.work)))]
    problems = [p for who, run in zip(("CLI", "Blender"), runs, strict=True)
                for p in outcome(who, run, refusals=("is locked by",))]
    done = sorted(lab.record().job_names)
    want = sorted([*lab.sources, *[n for n, r in zip("xy", runs, strict=True) if r.code == 0]])
    if done != want:
        problems.append(f"the record has {done}, not {want}")
    return problems + consistent(lab, before)


def cli_replaces_while_blender_harvests(lab: Lab) -> list[str]:
    rendered(lab)
    before = lab.inventory().frames
    runs = [finish(blender(lab, "harvest", release=lab.release)),
            finish(cli(lab, ["replace", "job", "b", "--release", lab.release]))]
    # Started together: whichever takes the lock second sees the other's result. A harvest
    # after the replace refuses (job b's new revision is not rendered).
    problems = outcome("Blender's harvest", runs[0], refusals=BUSY)
    problems += outcome("the CLI's replace", runs[1], refusals=BUSY)
    return problems + consistent(lab, before)


def cli_waits_for_blender(lab: Lab) -> list[str]:
    """Blender holds the release's lock for a while: the CLI's harvest waits, then runs."""
    rendered(lab)
    before = lab.inventory().frames
    holder = blender(lab, "hold", lock=str(lab.volume.lock_path(lab.release)), seconds=1.5)
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "holding":
        return [f"the stand-in could not take the lock: {finish(holder).text}"]
    started = time.monotonic()
    run = finish(cli(lab, ["harvest", "release", lab.release]))
    waited = time.monotonic() - started
    problems = outcome("the CLI's harvest", run) + outcome("Blender", finish(holder))
    if waited < 1.0:
        problems.append(f"the CLI did not wait for the lock ({waited:.2f} s)")
    return problems + consistent(lab, before)


def busy_names_the_holder(lab: Lab) -> list[str]:
    """With a short patience, the refusal says who holds the lock and what it does."""
    rendered(lab)
    holder = blender(lab, "hold", lock=str(lab.volume.lock_path(lab.release)), seconds=3)
    assert holder.stdout is not None
    holder.stdout.readline()
    problems: list[str] = []
    try:
        with RecordStore(lab.volume, lock_timeout=0.3).transaction(lab.release):
            problems.append("the lock was taken although Blender held it")
    except Busy as exc:
        for word in (str(holder.pid), "Blender: replacing chair-oak", "Wait for it"):
            if word not in str(exc):
                problems.append(f"the message lacks {word!r}: {exc}")
    holder.kill()
    holder.communicate()
    # A holder that dies frees the lock at once.
    try:
        with RecordStore(lab.volume, lock_timeout=2).transaction(lab.release):
            pass
    except Busy as exc:
        problems.append(f"a dead holder's lock was not freed: {exc}")
    return problems


def two_archives(lab: Lab) -> list[str]:
    rendered(lab)
    lab.farm(["harvest", "release", lab.release])
    argv = ["archive", "release", lab.release]
    runs = [finish(cli(lab, argv)), finish(cli(lab, argv))]
    problems = [p for i, run in enumerate(runs)
                for p in outcome(f"archive #{i + 1}", run, refusals=BUSY)]
    if sum(run.code == 0 for run in runs) != 1:
        problems.append(f"exit codes {[r.code for r in runs]}: exactly one archive expected")
    if not os.path.exists(lab.volume.archive_path(lab.release)):
        problems.append("no archive")
    return problems + no_temporary_files(lab.inventory())


SCENARIOS: dict[str, Callable[[Lab], list[str]]] = {
    "two CLI plans of one release": two_plans,
    "two CLI harvests of one release": two_harvests,
    "two CLI archives of one release": two_archives,
    "CLI and Blender add jobs to one release": cli_and_blender_add_jobs,
    "CLI replaces while Blender harvests": cli_replaces_while_blender_harvests,
    "CLI waits while Blender holds the lock": cli_waits_for_blender,
    "a busy lock names its holder": busy_names_the_holder,
}


def run_scenario(name: str, lab: Lab) -> list[str]:
    try:
        return SCENARIOS[name](lab)
    except Exception as exc:
        return [f"the scenario raised {type(exc).__name__}: {exc}"]


__all__ = ["SCENARIOS", "run_scenario"]
