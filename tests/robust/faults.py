"""Manager faults: timeouts, 503 with Retry-After, 500s, connections dropped before or after
the request was handled, a Manager restarted mid-command, a Manager that answers with another
version. Each scenario runs a real command (the `farm` CLI through the fork server, or the
core API where a test needs a hook in the file layer), then checks that it failed
clearly or succeeded, then runs the command again without the fault and checks the
invariants: nothing lost, nothing submitted twice, the records match the Manager.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm_addon.core.flamenco import FlamencoClient
from farm_addon.core.fs.mover import FileOps
from farm_addon.core.harvest.run import harvest_release, load_manifest
from farm_addon.core.session import FarmSession
from farm_addon.core.settings import Settings
from tests.emulator.faults import Fault
from tests.emulator.pngwrite import png_bytes
from tests.robust.crash import Before, rendered
from tests.robust.lab import (
    Inventory,
    Lab,
    frames_exactly_once,
    no_temporary_files,
    records_match_manager,
    release_files,
    sha,
)

Answer = dict[str, Any]


@dataclass
class FaultOutcome:
    name: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def clear(answer: Answer, *codes: int) -> list[str]:
    """The first run: one of ``codes``; a failure says so on one ``farm: error:`` line."""
    if answer.get("signal"):
        return [f"died with signal {answer['signal']}"]
    if "Traceback" in answer["err"]:
        return [f"printed a traceback: {answer['err'][-600:]}"]
    if answer["code"] not in codes:
        return [f"exited {answer['code']} (expected {codes}): {answer['err'][-400:]}"]
    # A failure is an error line, or (some jobs of a plan failed) a table saying which.
    said = "farm: error:" in answer["err"] or "could not be submitted" in answer["out"]
    if answer["code"] != 0 and not said:
        return [f"exited {answer['code']} without a message: {answer['err'][-300:]}"]
    return []


def settled(lab: Lab, before: Before, argv: list[str] | None) -> list[str]:
    """Run ``argv`` again (the fault gone) and check every invariant."""
    problems: list[str] = []
    lab.emu.faults.clear()
    if argv is not None:
        again = lab.farm(argv)
        if again["code"] != 0:
            problems.append(f"the rerun exited {again['code']}: {again['err'][-400:]}")
    after = lab.inventory()
    problems += records_match_manager(lab)
    problems += no_temporary_files(after)
    problems += frames_exactly_once(before.inventory.frames, after)
    return problems


def _before(lab: Lab) -> Before:
    return Before(lab.inventory(), release_files(lab))


def _client_session(lab: Lab, timeout: tuple[float, float] = (2.0, 30.0)) -> FarmSession:
    client = FlamencoClient(lab.emu.url, timeout=timeout)
    settings = Settings(manager_url=lab.emu.url, volume=lab.volume.root, project="robust")
    return FarmSession(settings, client=client, volume=lab.volume)


def _when_fired(fault: Fault, action: Callable[[], None], limit: float = 20.0) -> threading.Thread:
    """Call ``action`` as soon as ``fault`` has caught a request (which is then in flight)."""

    def watch() -> None:
        deadline = time.monotonic() + limit
        while fault.fired == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _wait_for_jobs(lab: Lab, count: int, limit: float = 10.0) -> None:
    """Wait until the Manager stored ``count`` jobs of the release (a slow answer may still
    be on its way after the client gave up)."""
    deadline = time.monotonic() + limit
    while len(lab.manager_jobs(live=False)) < count and time.monotonic() < deadline:
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# Scenarios: each takes a fresh lab and returns its problems.


def submit_503_retry_after(lab: Lab) -> list[str]:
    """The Manager's database is busy for the first two submissions: retried, no doubles."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="503", count=2, retry_after=1)
    problems = clear(lab.farm(lab.plan_argv()), 0)
    return problems + settled(lab, before, None)


def submit_503_forever(lab: Lab) -> list[str]:
    """Busy for good: a clear failure, nothing submitted; the rerun submits each job once."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="503", retry_after=0)
    problems = clear(lab.farm(lab.plan_argv()), 1)
    if lab.manager_jobs(live=False):
        problems.append("jobs reached the Manager although every submission got 503")
    return problems + settled(lab, before, lab.plan_argv())


def submit_500_once(lab: Lab) -> list[str]:
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="500", count=1)
    problems = clear(lab.farm(lab.plan_argv()), 1)
    return problems + settled(lab, before, lab.plan_argv())


def check_500(lab: Lab) -> list[str]:
    """The dry compile fails: nothing is packed or submitted (exit 1 or 2)."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs/check", kind="500", count=1)
    problems = clear(lab.farm(lab.plan_argv()), 1, 2)
    if lab.volume.release_dir(lab.release).exists():
        problems.append("a refused plan left releases/spring/")
    return problems + settled(lab, before, lab.plan_argv())


def submit_dropped_before(lab: Lab) -> list[str]:
    """The connection breaks before the Manager saw the job: failed, resubmitted once."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop", count=1)
    problems = clear(lab.farm(lab.plan_argv()), 1)
    return problems + settled(lab, before, lab.plan_argv())


def submit_dropped_after(lab: Lab) -> list[str]:
    """The Manager stored every job but the answers were lost: found and adopted."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=3)
    answer = lab.farm(lab.plan_argv())
    problems = clear(answer, 0)
    if "adopted" not in answer["out"]:
        problems.append("the lost answers were not reported as adopted")
    return problems + settled(lab, before, None)


def submit_dropped_after_and_listing_down(lab: Lab) -> list[str]:
    """The answer is lost and so is the listing that would find the job: the run fails, the
    next one adopts it (never a second submission)."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    lab.emu.faults.add(method="GET", path="/api/v3/jobs", kind="500", count=2)
    problems = clear(lab.farm(lab.plan_argv()), 0, 1)
    return problems + settled(lab, before, lab.plan_argv())


def submit_timeout(lab: Lab) -> list[str]:
    """The Manager answers after the CLI's --timeout: the job exists although the client saw
    an error; the plan fails clearly or adopts it, and the rerun finishes, nothing doubled."""
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="latency", count=1, seconds=1.5)
    problems = clear(lab.farm(["--timeout", "0.4", *lab.plan_argv()]), 0, 1)
    _wait_for_jobs(lab, len(lab.sources))
    return problems + settled(lab, before, lab.plan_argv())


def listing_timeout(lab: Lab) -> list[str]:
    """Listing the jobs outlasts the CLI's --timeout during a harvest: a clear error naming
    the wait, nothing moved."""
    rendered(lab)
    before = _before(lab)
    lab.emu.faults.add(method="GET", path="/api/v3/jobs", kind="latency", count=1, seconds=1.0)
    answer = lab.farm(["--timeout", "0.3", "harvest", "release", lab.release])
    problems = clear(answer, 1)
    if "did not answer within 0.3 s" not in answer["err"]:
        problems.append(f"unclear message: {answer['err'][-300:]}")
    problems += frames_exactly_once(before.inventory.frames, lab.inventory())
    if lab.volume.dist_dir(lab.release).exists():
        problems.append("the harvest moved frames without the Manager's answer")
    time.sleep(0.8)  # let the slow request finish before the rerun
    return problems + settled(lab, before, ["harvest", "release", lab.release])


def harvest_manager_500(lab: Lab) -> list[str]:
    rendered(lab)
    before = _before(lab)
    lab.emu.faults.add(method="GET", path="/api/v3/jobs", kind="500")
    problems = clear(lab.farm(["harvest", "release", lab.release]), 1)
    if lab.volume.dist_dir(lab.release).exists():
        problems.append("frames moved although the Manager could not confirm the jobs")
    return problems + settled(lab, before, ["harvest", "release", lab.release])


def harvest_manager_503(lab: Lab) -> list[str]:
    rendered(lab)
    before = _before(lab)
    lab.emu.faults.add(method="GET", path="/api/v3/jobs", kind="503", count=1, retry_after=0)
    problems = clear(lab.farm(["harvest", "release", lab.release]), 0)
    return problems + settled(lab, before, None)


def cancel_dropped_after(lab: Lab) -> list[str]:
    """A cancel request is handled but its answer lost: reported, and the rerun finds the job
    already canceled."""
    rendered(lab)
    lab.farm(["replace", "job", "a", "--release", lab.release])  # a queued job to cancel
    before = _before(lab)
    lab.emu.faults.add(method="POST", path="/api/v3/jobs/*/setstatus", kind="drop_after",
                       count=1)
    argv = ["kill", f"{lab.release}.jobs", "status:queued", "--yes"]
    problems = clear(lab.farm(argv), 0, 1)
    problems += settled(lab, before, argv)
    statuses = [j.status for j in lab.manager_jobs() if j.metadata.get("farm.job") == "a"]
    if statuses != ["canceled"]:
        problems.append(f"job a is {statuses}, not canceled")
    return problems


def delete_dropped_after(lab: Lab) -> list[str]:
    """Replace: deleting the old job is handled but the answer lost (retried: DELETE is
    idempotent); one new revision, the old job gone."""
    rendered(lab)
    before = _before(lab)
    lab.emu.faults.add(method="DELETE", path="/api/v3/jobs/*", kind="drop_after", count=1)
    argv = ["replace", "job", "b", "--release", lab.release]
    answer = lab.farm(argv)
    problems = clear(answer, 0, 1)
    problems += settled(lab, before, argv if answer["code"] else None)
    return problems


def restarted_mid_submission(lab: Lab) -> list[str]:
    """The Manager restarts while a submission is in flight (its state kept): whatever the
    Manager did with it, the rerun ends with each job on the Manager once."""
    before = _before(lab)
    fault = lab.emu.faults.add(method="POST", path="/api/v3/jobs", kind="latency", count=1,
                               seconds=0.5)
    watcher = _when_fired(fault, lambda: lab.emu.restart(down_seconds=0.2))
    answer = lab.farm(lab.plan_argv())
    watcher.join()
    problems = clear(answer, 0, 1)
    time.sleep(0.6)  # the interrupted handler may still store the job
    return problems + settled(lab, before, lab.plan_argv() if answer["code"] else None)


def restarted_between_commands(lab: Lab) -> list[str]:
    rendered(lab)
    before = _before(lab)
    lab.emu.restart()
    problems = clear(lab.farm(["harvest", "release", lab.release]), 0)
    return problems + settled(lab, before, None)


def manager_down(lab: Lab) -> list[str]:
    """No Manager at all: exit 2 before anything is written."""
    before = _before(lab)
    lab.emu._stop_server()
    try:
        answer = lab.farm(lab.plan_argv())
    finally:
        lab.emu.start()
    problems = clear(answer, 2)
    if lab.volume.release_dir(lab.release).exists():
        problems.append("planning without a Manager wrote releases/spring/")
    return problems + settled(lab, before, lab.plan_argv())


def older_version_between_commands(lab: Lab) -> list[str]:
    """Planned with 3.8, the Manager downgraded to 3.5 (no GET /jobs): harvest still works;
    downgraded to 3.3 (unsupported): refused with exit 2, nothing touched."""
    rendered(lab)
    before = _before(lab)
    lab.emu.set_version("3.3.0")
    answer = lab.farm(["harvest", "release", lab.release])
    problems = clear(answer, 2)
    if "too old" not in answer["err"]:
        problems.append(f"the refusal does not say why: {answer['err'][-300:]}")
    if lab.volume.dist_dir(lab.release).exists():
        problems.append("an unsupported Manager's harvest moved frames")
    lab.emu.set_version("3.5.0")
    problems += clear(lab.farm(["harvest", "release", lab.release]), 0)
    return problems + settled(lab, before, None)


def version_changed_mid_command(lab: Lab) -> list[str]:
    """The Manager is replaced by a 3.5 one while a plan runs (the client read 3.8 before):
    the plan fails clearly or finishes; the rerun finishes it, nothing doubled."""
    before = _before(lab)
    fault = lab.emu.faults.add(method="POST", path="/api/v3/jobs/check", kind="latency",
                               count=1, seconds=0.2)
    watcher = _when_fired(fault, lambda: lab.emu.set_version("3.5.0"))
    answer = lab.farm(lab.plan_argv())
    watcher.join()
    problems = clear(answer, 0, 1)
    return problems + settled(lab, before, lab.plan_argv() if answer["code"] else None)


def _frame_changed_during_harvest(lab: Lab, cross: bool) -> list[str]:
    """Someone re-renders a frame (a new, valid PNG, in place) after the harvest checked it
    and before it is moved (renamed on one file system, copied to another): that frame is
    held back in out/ with its new content, everything else is delivered, the manifest lists
    only what was delivered, the CLI says which frame and exits 1; the next harvest delivers
    the new frame with its own checksum."""
    rendered(lab)
    before = _before(lab)
    new_png = png_bytes(8, 8, (1, 2, 3))
    changed: list[str] = []

    class ChangingOps(FileOps):
        def same_device(self, src_dir: Path, dst_dir: Path) -> bool:
            return not cross and super().same_device(src_dir, dst_dir)

        def _change(self, path: Any) -> None:
            if f"{os.sep}out{os.sep}" in str(path):
                changed.append(str(path))
                if len(changed) == 3:
                    with open(path, "r+b") as f:  # in place, as Blender writes
                        f.truncate(0)
                        f.write(new_png)

        def move(self, src: Any, dst: Any) -> None:
            self._change(src)
            super().move(src, dst)

        def open_read(self, path: Any) -> Any:
            self._change(path)
            return super().open_read(path)

    problems: list[str] = []
    with _client_session(lab) as session:
        result = harvest_release(lab.volume, session.client, lab.release, ops=ChangingOps())
    path = changed[2]
    rel = Path(path).relative_to(lab.volume.root).as_posix()
    if [s for _j, _f, s in result.held] != [rel]:
        problems.append(f"held back {result.held}, expected only {rel}")
    if "changed on disk while the harvest ran" not in result.held_message():
        problems.append(f"unclear message: {result.held_message()!r}")
    if Path(path).read_bytes() != new_png:
        problems.append(f"the changed frame {rel} is not in out/ with its new content")
    doc = load_manifest(lab.volume, lab.release)
    if any(item["source"] == rel for item in doc["files"]):
        problems.append("the manifest lists the frame that was held back")
    kept = {p: d for p, d in before.inventory.frames.items() if p != rel}
    problems += frames_exactly_once(kept, lab.inventory())
    problems += settled(lab, dataclasses.replace(before, inventory=Inventory(kept, [])),
                        ["harvest", "release", lab.release])
    doc = load_manifest(lab.volume, lab.release)
    items = [i for i in doc["files"] if i["source"] == rel]
    if [i["sha256"] for i in items] != [sha(new_png)]:
        problems.append(f"the rerun did not deliver the new frame with its checksum: {items}")
    return problems


def frame_changed_during_harvest(lab: Lab) -> list[str]:
    return _frame_changed_during_harvest(lab, cross=False)


def frame_changed_during_cross_fs_harvest(lab: Lab) -> list[str]:
    return _frame_changed_during_harvest(lab, cross=True)


SCENARIOS: dict[str, Callable[[Lab], list[str]]] = {
    "503 + Retry-After on submit": submit_503_retry_after,
    "503 on every submit": submit_503_forever,
    "500 on one submit": submit_500_once,
    "500 on the dry compile": check_500,
    "connection dropped before a submit": submit_dropped_before,
    "connection dropped after 3 submits": submit_dropped_after,
    "answer lost and listing down": submit_dropped_after_and_listing_down,
    "submit answered after the timeout": submit_timeout,
    "listing answered after the timeout": listing_timeout,
    "500 on the listing during harvest": harvest_manager_500,
    "503 on the listing during harvest": harvest_manager_503,
    "cancel answer lost": cancel_dropped_after,
    "delete answer lost during replace": delete_dropped_after,
    "Manager restarted mid-submission": restarted_mid_submission,
    "Manager restarted between commands": restarted_between_commands,
    "Manager down": manager_down,
    "older Manager between commands": older_version_between_commands,
    "Manager version changed mid-command": version_changed_mid_command,
    "a frame changed during a harvest": frame_changed_during_harvest,
    "a frame changed during a harvest to another file system":
        frame_changed_during_cross_fs_harvest,
}


def run_fault(name: str, lab: Lab) -> FaultOutcome:
    try:
        problems = SCENARIOS[name](lab)
    except Exception as exc:
        problems = [f"the scenario raised {type(exc).__name__}: {exc}"]
    return FaultOutcome(name, problems)
