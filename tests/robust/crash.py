"""The crash harness: every writing command killed with SIGKILL at many points, then run again.

For each command a *series* builds its starting state once (a release planned, rendered,
harvested... as the command needs), snapshots the volume and the emulator's database, and
runs the command once counting its file and HTTP operations (T). Then, for kill points spread
over 1..T, it restores the snapshot, runs the command in a forked child that SIGKILLs itself
before operation N (:mod:`tests.robust.killpoint`), runs the same command again to the end,
and checks the invariants (:mod:`tests.robust.lab`): the records parse and match the Manager,
no job was submitted twice, every frame exists exactly once, no temporary file is left, an
archive is absent or complete, plus what the command itself promises.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm_addon.core.fs.volume import HARVEST_JOURNAL_NAME as JOURNAL_NAME
from farm_addon.core.harvest.run import load_manifest
from tests.robust.lab import (
    Inventory,
    Lab,
    State,
    archive_problems,
    frames_exactly_once,
    no_temporary_files,
    records_match_manager,
    release_files,
)

Answer = dict[str, Any]


@dataclass
class Before:
    """What the series' starting state held."""

    inventory: Inventory
    archive_expect: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Series:
    name: str
    argv: Callable[[Lab], list[str]]
    prepare: Callable[[Lab], None]
    check: Callable[[Lab, Before, Answer], list[str]]
    #: Which parts of the volume hold frames the command must keep (slash-and-burn empties quick/)
    kept: tuple[str, ...] = ("releases", "dist", "quick")
    all_submitted: bool = True
    #: The command deletes Manager jobs the records still name (slash-and-burn).
    deletes_jobs: bool = False


@dataclass
class PointResult:
    point: int
    op: str
    killed: bool
    rerun_code: int | None
    problems: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class SeriesResult:
    name: str
    total_ops: int
    points: list[PointResult] = field(default_factory=list)
    setup_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def survived(self) -> int:
        return sum(1 for p in self.points if p.ok)

    @property
    def failures(self) -> list[PointResult]:
        return [p for p in self.points if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.setup_problems and not self.failures


def spread(total: int, wanted: int) -> list[int]:
    """``wanted`` kill points spread evenly over 1..total (every point if there are fewer)."""
    if total <= wanted:
        return list(range(1, total + 1))
    return sorted({round(1 + i * (total - 1) / (wanted - 1)) for i in range(wanted)})


# --------------------------------------------------------------------------------------------
# Starting states


def planned(lab: Lab) -> None:
    answer = lab.farm(lab.plan_argv())
    if answer["code"] != 0:
        raise RuntimeError(f"planning failed: {answer['err']}")


def rendered(lab: Lab) -> None:
    planned(lab)
    lab.render()


def harvested(lab: Lab) -> None:
    rendered(lab)
    answer = lab.farm(["harvest", "release", lab.release])
    if answer["code"] != 0:
        raise RuntimeError(f"harvest failed: {answer['err']}")


def replaced_after_harvest(lab: Lab) -> None:
    """Harvested, then job b replaced and rendered again: the next harvest moves b's old
    deliveries aside and delivers the new ones."""
    harvested(lab)
    answer = lab.farm(["replace", "job", "b", "--release", lab.release])
    if answer["code"] != 0:
        raise RuntimeError(f"replace failed: {answer['err']}")
    lab.render()


def planned_with_quick_job(lab: Lab) -> None:
    planned(lab)
    answer = lab.farm(["seed", "job", str(lab.sources["a"]), "quickie"])
    if answer["code"] != 0:
        raise RuntimeError(f"seed failed: {answer['err']}")
    lab.render()


def nothing(lab: Lab) -> None:
    pass


# --------------------------------------------------------------------------------------------
# What each command promises, after the rerun


def _code(answer: Answer, *allowed: int) -> list[str]:
    if answer.get("signal"):
        return [f"the rerun died with signal {answer['signal']}"]
    if answer["code"] not in allowed:
        return [f"the rerun exited {answer['code']}: {(answer['err'] or answer['out'])[-600:]}"]
    if "Traceback" in answer["err"]:
        return [f"the rerun printed a traceback: {answer['err'][-600:]}"]
    return []


def check_plan(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    # Killed after its last step (the folder's fsync), the plan was complete: the same
    # command then refuses to plan the release again, with a clear message (exit 2).
    problems = _code(rerun, 0, 2)
    if rerun["code"] == 2 and "already exists" not in rerun["err"]:
        problems.append(f"the rerun refused for another reason: {rerun['err'][-400:]}")
    if not problems:
        names = lab.record().job_names
        if sorted(names) != sorted(lab.sources):
            problems.append(f"the record has jobs {names}, not {sorted(lab.sources)}")
    return problems


def check_seed(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    # A killed seed whose job reached the Manager is refused the second time (exit 2): the
    # job is on the farm, never submitted twice.
    problems = _code(rerun, 0, 2)
    if rerun["code"] == 2 and "still on the farm" not in rerun["err"]:
        problems.append(f"the rerun refused for another reason: {rerun['err'][-400:]}")
    jobs = lab.manager_jobs("quick", live=False)
    if len(jobs) != 1:
        problems.append(f"{len(jobs)} quick jobs on the Manager, not 1")
    if not (lab.volume.quick_store_dir / "quickie.blend").is_file():
        problems.append("quick/store/quickie.blend is missing")
    return problems


def check_replace(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    problems = _code(rerun, 0)
    if not problems:
        job = lab.record().job("b")
        if job.revision < 2:
            problems.append(f"job b is still at revision {job.revision}")
        for rev in job.revisions[:-1]:
            if rev.state != "superseded":
                problems.append(f"job b revision {rev.number} is {rev.state}")
    return problems


def check_harvest(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    problems = _code(rerun, 0)
    if (lab.volume.release_dir(lab.release) / JOURNAL_NAME).exists():
        problems.append("the harvest journal is still there")
    doc = load_manifest(lab.volume, lab.release)
    live = [f for f in doc["files"] if not f.get("superseded")]
    want = before.extra["delivered"]
    if len(live) != want:
        problems.append(f"the manifest lists {len(live)} delivered files, not {want}")
    dist = lab.volume.dist_dir(lab.release)
    for item in live:
        if not (dist / item["name"]).is_file():
            problems.append(f"{item['name']} is in the manifest but not in dist/")
    out_left = [p for p in lab.volume.out_dir(lab.release).rglob("*.png")]
    if out_left:
        problems.append(f"{len(out_left)} frames are still in out/")
    return problems


def check_archive(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    # Killed after its last step, the archive was complete and pruned: the same command then
    # says so (exit 1) instead of archiving the record alone.
    problems = _code(rerun, 0, 1)
    if rerun["code"] == 1 and "pruned" not in rerun["err"]:
        problems.append(f"the rerun failed: {rerun['err'][-400:]}")
    if not lab.volume.archive_path(lab.release).is_file():
        problems.append("there is no archive after the rerun")
    if (lab.volume.store_dir(lab.release)).exists():
        problems.append("the release was not pruned")
    if not lab.volume.record_path(lab.release).is_file():
        problems.append("the record was pruned")
    return problems


def check_kill(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    problems = _code(rerun, 0)
    statuses = sorted(j.status for j in lab.manager_jobs())
    if any(s != "canceled" for s in statuses):
        problems.append(f"jobs not canceled: {statuses}")
    return problems


def check_reset(lab: Lab, before: Before, rerun: Answer) -> list[str]:
    problems = _code(rerun, 0)
    with lab.emu.store.lock:
        live = [j.name for j in lab.emu.jobs.values() if j.delete_requested_at is None]
    if live:
        problems.append(f"jobs left on the Manager: {live}")
    left = list(lab.volume.quick_dir.iterdir()) if lab.volume.quick_dir.exists() else []
    if left:
        problems.append(f"quick/ still holds {[p.name for p in left]}")
    if not lab.volume.record_path(lab.release).is_file():
        problems.append("the release's record is gone")
    return problems


SERIES: dict[str, Series] = {s.name: s for s in (
    Series("plan", lambda lab: lab.plan_argv(), nothing, check_plan),
    Series("seed", lambda lab: ["seed", "job", str(lab.sources["a"]), "quickie"], nothing,
           check_seed),
    Series("replace", lambda lab: ["replace", "job", "b", "--release", lab.release], rendered,
           check_replace),
    Series("harvest", lambda lab: ["harvest", "release", lab.release], rendered,
           check_harvest),
    Series("harvest-superseding", lambda lab: ["harvest", "release", lab.release],
           replaced_after_harvest, check_harvest),
    Series("archive", lambda lab: ["archive", "release", lab.release, "--prune"], harvested,
           check_archive),
    Series("kill", lambda lab: ["kill", f"{lab.release}.jobs", "*", "--yes"], planned,
           check_kill),
    Series("slash-and-burn", lambda lab: ["slash-and-burn", "--yes"], planned_with_quick_job,
           check_reset, kept=("releases", "dist"), deletes_jobs=True),
)}

#: The commands the issue names, and the series that cover each.
COMMANDS = {"plan": ["plan"], "seed": ["seed"], "replace": ["replace"],
            "harvest": ["harvest", "harvest-superseding"], "archive": ["archive"],
            "kill": ["kill"], "slash-and-burn": ["slash-and-burn"]}


def _extra(lab: Lab, name: str) -> dict[str, Any]:
    if name.startswith("harvest"):
        record = lab.record()
        from farm_addon.core.frames import count_frames
        return {"delivered": sum(count_frames(j.frames) for j in record.jobs)}
    return {}


def check_point(lab: Lab, series: Series, before: Before, rerun: Answer) -> list[str]:
    after = lab.inventory()
    problems = series.check(lab, before, rerun)
    problems += records_match_manager(lab, all_submitted=series.all_submitted,
                                      deleted_ok=series.deletes_jobs)
    problems += no_temporary_files(after)
    archive, archived = archive_problems(lab, before.archive_expect)
    problems += archive
    kept = {p: d for p, d in before.inventory.frames.items()
            if p.split("/", 1)[0] in series.kept}
    problems += frames_exactly_once(kept, after, archived)
    return problems


def set_up(series: Series, lab: Lab) -> tuple[State, list[str], Before]:
    """Prepare ``series``'s starting state: the snapshot to restore before each run, the
    command, and what the invariants compare with."""
    series.prepare(lab)
    state = lab.capture()
    return state, series.argv(lab), Before(lab.inventory(), release_files(lab),
                                           _extra(lab, series.name))


def run_series(series: Series, lab: Lab, points: int = 50,
               report: Callable[[PointResult], None] | None = None) -> SeriesResult:
    """Kill ``series``'s command at up to ``points`` operations; see the module's docstring."""
    started = time.monotonic()
    try:
        state, argv, before = set_up(series, lab)
    except RuntimeError as exc:
        return SeriesResult(series.name, 0, setup_problems=[str(exc)])
    # The command once to the end, counting: T, and the invariants without any kill.
    counted = lab.farm(argv)
    result = SeriesResult(series.name, int(counted.get("ops", 0)))
    setup = check_point(lab, series, before, counted)
    if setup:
        result.setup_problems = [f"without a kill: {p}" for p in setup]
    for n in spread(result.total_ops, points):
        t0 = time.monotonic()
        lab.restore(state)
        killed = lab.farm(argv, kill_at=n)
        rerun = lab.farm(argv)
        problems = check_point(lab, series, before, rerun)
        if killed.get("signal") is None and killed.get("code") not in (0, None):
            problems.append(f"the run to be killed at {n} exited {killed['code']} first: "
                            f"{killed['err'][-400:]}")
        point = PointResult(n, str(killed.get("op", "(ended before)")),
                            killed.get("signal") is not None, rerun.get("code"), problems,
                            time.monotonic() - t0)
        result.points.append(point)
        if report is not None:
            report(point)
    shutil.rmtree(state.disk, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def describe(result: SeriesResult, limit: int = 5) -> str:
    """The failures of a series, for assertion messages and the report."""
    lines = [f"{result.name}: {result.survived}/{len(result.points)} kill points survived "
             f"(T={result.total_ops})"]
    lines += [f"  setup: {p}" for p in result.setup_problems]
    for p in result.failures[:limit]:
        lines.append(f"  killed at {p.point} ({p.op}); rerun exit {p.rerun_code}:")
        lines += [f"    {q}" for q in p.problems[:6]]
    return "\n".join(lines)


def as_json(result: SeriesResult) -> str:
    return json.dumps({"name": result.name, "total_ops": result.total_ops,
                       "survived": result.survived, "points": len(result.points),
                       "failures": [p.__dict__ for p in result.failures]}, indent=1)


def new_lab(base: Path, blends: dict[str, Path], server: Any, **kw: Any) -> Lab:
    return Lab.create(base, blends, server, **kw)


# --------------------------------------------------------------------------------------------
# Disk faults: the same series, with the Nth disk operation failing instead of a kill


@dataclass
class FaultResult:
    series: str
    errno: int
    point: int
    op: str
    code: int | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def name(self) -> str:
        return f"{self.series}: {os.strerror(self.errno)} at disk operation {self.point}"


def _clear_failure(answer: Answer) -> list[str]:
    """A failed command must say what went wrong, as farm does: exit 1 or 2, one
    ``farm: error:`` line, no traceback."""
    if answer.get("signal"):
        return [f"died with signal {answer['signal']}"]
    if "Traceback" in answer["err"]:
        return [f"printed a traceback: {answer['err'][-800:]}"]
    if answer["code"] == 0:
        return []  # the failing operation was one farm can do without (a folder's fsync)
    if answer["code"] not in (1, 2):
        return [f"exited {answer['code']}: {answer['err'][-400:]}"]
    if "farm: error:" not in answer["err"]:
        return [f"exited {answer['code']} without an error message: {answer['err'][-400:]}"]
    return []


def run_disk_faults(series: Series, lab: Lab, errnos: tuple[int, ...], points: int,
                    report: Callable[[FaultResult], None] | None = None) -> list[FaultResult]:
    """Make the Nth disk operation of ``series``'s command fail with each of ``errnos`` (for
    N spread over its disk operations); the command must fail clearly, lose nothing, and the
    same command again (the disk fixed) must succeed."""
    state, argv, before = set_up(series, lab)
    total = int(lab.farm(argv).get("disk_ops", 0))
    results = []
    for err in errnos:
        for n in spread(total, points):
            lab.restore(state)
            faulted = lab.farm(argv, fail_at=n, errno=err)
            problems = _clear_failure(faulted)
            if faulted["code"] in (1, 2) and not problems:
                problems += [f"after the failure: {p}" for p in _no_loss(lab, series, before)]
            rerun = lab.farm(argv)
            problems += check_point(lab, series, before, rerun)
            fired = faulted.get("fired") or ["(not reached)"]
            result = FaultResult(series.name, err, n, str(fired[0]), faulted["code"], problems)
            results.append(result)
            if report is not None:
                report(result)
    shutil.rmtree(state.disk, ignore_errors=True)
    return results


def _no_loss(lab: Lab, series: Series, before: Before) -> list[str]:
    """Right after a failure: no frame lost or doubled, an archive absent or complete."""
    after = lab.inventory()
    archive, archived = archive_problems(lab, before.archive_expect)
    kept = {p: d for p, d in before.inventory.frames.items()
            if p.split("/", 1)[0] in series.kept}
    return archive + frames_exactly_once(kept, after, archived)
