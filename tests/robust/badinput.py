"""A table of hostile inputs, each run through the real `farm` CLI (the fork server): path
traversal in every name and path field, symbolic links pointing out of the volume, names that
differ only in case, very long names, non-UTF-8 file names, a read-only volume.

Every case starts from the same state (release ``spring`` planned and rendered, a folder
``outside/`` next to the volume holding bait files), may add its own hostile files, and must
end with exit 1 or 2, a message that names the problem, and nothing changed: the volume, the
folder outside it and the Manager's jobs exactly as before.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.robust.lab import Lab, State

Argv = list[str]


@dataclass
class Ctx:
    lab: Lab
    outside: Path

    @property
    def release_dir(self) -> Path:
        return self.lab.volume.release_dir(self.lab.release)

    def src(self, name: str = "a") -> str:
        return str(self.lab.sources[name])

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.lab.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def blend_as(self, name: str | bytes) -> Path:
        """A copy of source a under another file name (bytes for a non-UTF-8 name)."""
        folder = self.lab.work / "renamed"
        folder.mkdir(exist_ok=True)
        target = (Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
                  if isinstance(name, bytes) else folder / name)
        shutil.copy2(self.lab.sources["a"], target)
        return target

    def link_out(self, inside: Path) -> None:
        """Replace ``inside`` (a folder of the volume) by a link to a copy of it outside."""
        copy = self.outside / f"moved-{inside.name}"
        shutil.move(str(inside), copy)
        inside.symlink_to(copy, target_is_directory=True)


@dataclass(frozen=True)
class Case:
    name: str
    field: str
    argv: Callable[[Ctx], Argv]
    says: str  # a regular expression the message must match (case-insensitive)
    codes: tuple[int, ...] = (2,)
    env: dict[str, str] | None = None
    read_only: bool = False  # run on a read-only volume
    #: A link case that succeeds (exit 0, a warning) without following the link: the volume
    #: may change, what is outside it may not.
    succeeds: bool = False


def _plan(ctx: Ctx, *extra: str) -> Argv:
    return ["plan", "release", *extra]


def _plan_file(ctx: Ctx, text: str) -> Argv:
    return ["plan", "release", "--from", str(ctx.file("plan.toml", text))]


def _renamer(ctx: Ctx, body: str) -> Argv:
    path = ctx.file("rename.py", f"def rename(release, job, frame, ext, meta, data):\n{body}\n")
    return ["harvest", "release", "spring", "--renamer", str(path)]


def _harvest(*extra: str) -> Argv:
    return ["harvest", "release", "spring", *extra]


def _bad_blend(ctx: Ctx) -> str:
    return str(ctx.file("broken.blend", b"BLENDER-v404" + os.urandom(300)))


def _outside_frames(ctx: Ctx) -> Argv:
    ctx.link_out(ctx.lab.volume.job_out_dir("spring", "a"))
    return _harvest()


def _dist_outside(ctx: Ctx) -> Argv:
    target = ctx.outside / "dist-elsewhere"
    target.mkdir()
    ctx.lab.volume.dist_dir("spring").symlink_to(target, target_is_directory=True)
    return _harvest()


def _dist_taken(ctx: Ctx) -> Argv:
    dist = ctx.lab.volume.dist_dir("spring")
    dist.mkdir(parents=True)
    (dist / "a_000001.png").write_bytes(b"someone else's file")
    return _harvest()


def _quick_outside(ctx: Ctx) -> Argv:
    (ctx.lab.volume.quick_dir / "out").symlink_to(ctx.outside, target_is_directory=True)
    return ["slash-and-burn", "--yes"]


def _archive_dist_outside(ctx: Ctx) -> Argv:
    _dist_outside(ctx)
    return ["archive", "release", "spring", "--prune"]


def _archive_frame_outside(ctx: Ctx) -> Argv:
    frame = ctx.lab.volume.job_out_dir("spring", "a") / "000001.png"
    shutil.move(str(frame), ctx.outside / "frame-elsewhere.png")
    frame.symlink_to(ctx.outside / "frame-elsewhere.png")
    return ["archive", "release", "spring", "--prune"]


def _quick_job_outside(ctx: Ctx) -> Argv:
    out = ctx.lab.volume.quick_dir / "out"
    out.mkdir(parents=True)
    (out / "job").symlink_to(ctx.outside, target_is_directory=True)
    return ["slash-and-burn", "--yes"]


def _archive_exists(ctx: Ctx) -> Argv:
    ctx.lab.volume.archive_path("spring").write_bytes(b"an archive made earlier")
    return ["archive", "release", "spring"]


def _store_outside_replace(ctx: Ctx) -> Argv:
    ctx.link_out(ctx.lab.volume.store_dir("spring"))
    return ["replace", "job", "a", "--release", "spring"]


def _superseded_outside(ctx: Ctx) -> Argv:
    target = ctx.outside / "superseded-elsewhere"
    target.mkdir()
    (ctx.release_dir / "superseded").symlink_to(target, target_is_directory=True)
    return ["replace", "job", "a", "--release", "spring"]


LONG = "x" * 150
NON_UTF8 = b"caf\xe9-\xff.blend"

CASES: list[Case] = [
    # --- release names -------------------------------------------------------------------
    # `farm plan release ../evil a.blend`: a NAME with a slash reads as a source
    Case("release name ..", "release name", lambda c: _plan(c, "../evil", c.src()),
         r"'\.\./evil'"),
    Case("release name with a NUL", "release name", lambda c: _plan(c, "a\x00b", c.src()),
         r"release name.*(U\+0000|control)"),
    Case("release name a device", "release name", lambda c: _plan(c, "CON", c.src()),
         r"device name"),
    Case("release name very long", "release name", lambda c: _plan(c, LONG, c.src()),
         r"150 characters long"),
    Case("release name differs only in case", "release name",
         lambda c: _plan(c, "SPRING", c.src()), r"differs only in case.*'spring'"),
    Case("plan file release ../", "plan file release",
         lambda c: _plan_file(c, f'release = "../../etc"\nsources = ["{c.src()}"]\n'),
         r"release name '\.\./\.\./etc'"),
    Case("harvest release ../", "release argument", lambda c: ["harvest", "release", "../spring"],
         r"release name '\.\./spring'"),
    Case("archive release ../", "release argument",
         lambda c: ["archive", "release", "../../spring"], r"release name '\.\./\.\./spring'"),
    Case("replace --release ../", "--release",
         lambda c: ["replace", "job", "a", "--release", "../spring"],
         r"release name '\.\./spring'"),
    Case("kill ../RELEASE.jobs", "release in a target",
         lambda c: ["kill", "../spring.jobs", "*", "--yes"], r"release.*\.\./spring"),
    Case("status of ../", "release argument", lambda c: ["status", "../spring"],
         r"release name '\.\./spring'"),
    # --- job names -----------------------------------------------------------------------
    Case("seed job ..", "job name", lambda c: ["seed", "job", c.src(), "../x"],
         r"job name '\.\./x'"),
    Case("seed job with a slash", "job name", lambda c: ["seed", "job", c.src(), "x/y"],
         r"job name 'x/y'.*separator"),
    Case("seed job differs only in case", "job name",
         lambda c: (c.lab.volume.quick_store_dir.mkdir(parents=True, exist_ok=True),
                    (c.lab.volume.quick_store_dir / "quickie.blend").write_bytes(b"x"),
                    ["seed", "job", c.src(), "QUICKIE"])[-1],  # type: ignore[return-value]
         r"differs only in case"),
    Case("seed job very long", "job name", lambda c: ["seed", "job", c.src(), LONG],
         r"150 characters long"),
    Case("--name template with ..", "--name",
         lambda c: _plan(c, "autumn", str(c.lab.work / "{part}" / "{file}.blend"),
                         "--name", "../{file}"), r"job name .*'\.\./\w+'"),
    Case("--name template with /", "--name",
         lambda c: _plan(c, "autumn", str(c.lab.work / "{part}" / "{file}.blend"),
                         "--name", "{part}/{file}"), r"job name .*'\w+/\w+'.*separator"),
    Case("--name template with an unknown part", "--name",
         lambda c: _plan(c, "autumn", str(c.lab.work / "{part}" / "{file}.blend"),
                         "--name", "{nope}"), r"nope"),
    Case("plan file job name ..", "plan file [jobs]",
         lambda c: _plan_file(c, f'release = "autumn"\n[jobs."../x"]\nsource = "{c.src()}"\n'),
         r"job name .*'\.\./x'"),
    Case("job names differing only in case", "source names",
         lambda c: _plan(c, "autumn", str(c.blend_as("Chair.blend")),
                         str(c.blend_as("chair.blend"))), r"differ only in case"),
    Case("job name from a very long file name", "source file name",
         lambda c: _plan(c, "autumn", str(c.blend_as(LONG + ".blend"))),
         r"150 characters long"),
    Case("job name from a non-UTF-8 file name", "source file name",
         lambda c: _plan(c, "autumn", os.fsdecode(os.fsencode(c.blend_as(NON_UTF8)))),
         r"UTF-8"),
    Case("two sources, one job name", "sources",
         lambda c: _plan(c, "autumn", str(c.blend_as("a.blend")), c.src("a")),
         r"Two sources make the job 'a'"),
    Case("replace job ../a", "job name",
         lambda c: ["replace", "job", "../a", "--release", "spring"], r"no job '\.\./a'"),
    # --- source and plan file paths -------------------------------------------------------
    Case("source ../ to a missing file", "source path",
         lambda c: _plan(c, "autumn", "../../../nowhere/x.blend"), r"does not exist"),
    Case("source /etc/hostname", "source path",
         lambda c: _plan(c, "autumn", "/etc/hostname"), r"not a \.blend"),
    Case("source a damaged .blend", "source file", lambda c: _plan(c, "autumn", _bad_blend(c)),
         r"broken\.blend"),
    Case("plan file source ../", "plan file sources",
         lambda c: _plan_file(c, 'release = "autumn"\nsources = ["../../../etc/passwd"]\n'),
         r"not a \.blend|does not exist"),
    Case("plan file [jobs] source /etc/hostname", "plan file [jobs] source",
         lambda c: _plan_file(c, 'release = "autumn"\n[jobs.x]\nsource = "/etc/hostname"\n'),
         r"not a \.blend"),
    Case("--from a missing file", "--from",
         lambda c: _plan(c, "--from", str(c.lab.work / ".." / ".." / "nope.toml")),
         r"does not exist"),
    Case("--from a folder", "--from", lambda c: _plan(c, "--from", str(c.lab.work)),
         r"cannot be read"),
    Case("--from not UTF-8", "--from",
         lambda c: ["plan", "release", "--from", str(c.file("bad.toml", b"release = \"\xff\"\n"))],
         r"not UTF-8"),
    Case("replace --from a missing file", "--from",
         lambda c: ["replace", "job", "a", "--release", "spring", "--from", "../../x.blend"],
         r"does not exist|not found|x\.blend"),
    Case("replace --from a damaged .blend", "--from",
         lambda c: ["replace", "job", "a", "--release", "spring", "--from", _bad_blend(c)],
         r"broken\.blend"),
    Case("--frames with junk", "--frames",
         lambda c: _plan(c, "autumn", c.src(), "--frames", "1-3,../"), r"'\.\./'"),
    Case("--volume ../ of a farm volume", "--volume",
         lambda c: ["--volume", str(c.lab.volume.root / ".." / ".."), "plan", "release",
                    "autumn", c.src()], r"not a farm volume"),
    Case("--volume a file", "--volume",
         lambda c: ["--volume", str(c.lab.volume.root / ".farm-volume.toml"), "harvest",
                    "release", "spring"], r"is not a folder|not a farm volume"),
    # --- harvest templates, renamers and data ---------------------------------------------
    Case("template ../", "--template", lambda c: _harvest("--template", "../{job}{frame}{ext}"),
         r"unsafe|'\.\.'"),
    Case("template absolute", "--template",
         lambda c: _harvest("--template", "/tmp/{job}{frame}{ext}"), r"absolute"),
    Case("template a/../../b", "--template",
         lambda c: _harvest("--template", "x/../../{job}{frame}{ext}"), r"'\.\.'"),
    Case("template collides", "--template", lambda c: _harvest("--template", "{job}{ext}"),
         r"map to"),
    Case("template differing only in case", "--template",
         lambda c: _harvest("--template", "{meta.x}{frame}{ext}"), r"meta\.x|no metadata"),
    Case("template very long", "--template",
         lambda c: _harvest("--template", "{job}" + "y" * 300 + "{frame}{ext}"),
         r"longer than 255"),
    Case("renamer returns ../", "renamer output",
         lambda c: _renamer(c, "    return f'../../escape{frame}.png'"), r"unsafe|'\.\.'"),
    Case("renamer returns an absolute path", "renamer output",
         lambda c: _renamer(c, "    return f'/tmp/escape{frame}.png'"), r"absolute"),
    Case("renamer names differing only in case", "renamer output",
         lambda c: _renamer(c, "    return ('F' if job == 'a' else 'f') + f'{frame}.png'"),
         r"differing only in case"),
    Case("renamer raises", "renamer", lambda c: _renamer(c, "    raise ValueError('nope')"),
         r"ValueError"),
    Case("renamer ../ path to a missing file", "--renamer",
         lambda c: _harvest("--renamer", "../../nowhere/rename.py"), r"does not exist"),
    Case("data not JSON", "--data",
         lambda c: _harvest("--template", "{job}{angle}{ext}", "--data",
                            str(c.file("d.json", "{nope"))), r"not valid JSON"),
    Case("data lacks a frame", "--data",
         lambda c: _harvest("--template", "{job}_{frame}_{angle}{ext}", "--data",
                            str(c.file("d.json", '{"1": {"angle": 0}}'))),
         r"no entry for"),
    # --- symbolic links pointing out of the volume ------------------------------------------
    Case("out/<job> is a link out of the volume", "symlink", _outside_frames,
         r"outside the farm volume"),
    Case("dist/<release> is a link out of the volume", "symlink", _dist_outside,
         r"outside the farm volume"),
    Case("quick/out is a link out of the volume", "symlink", _quick_outside,
         r"outside the farm volume"),
    Case("archive with dist/ linked out of the volume", "symlink", _archive_dist_outside,
         r"warning: spring/dist -> .*outside the volume", codes=(0,), succeeds=True),
    Case("archive with a frame linked out of the volume", "symlink", _archive_frame_outside,
         r"warning: spring/out/a/000001\.png -> .*outside the volume", codes=(0,),
         succeeds=True),
    Case("slash-and-burn with a link out of quick/", "symlink", _quick_job_outside,
         r"Deleted \d+ job", codes=(0,), succeeds=True),
    Case("slash-and-burn --include dist with dist/ linked out", "symlink",
         lambda c: (_dist_outside(c), ["slash-and-burn", "--yes", "--include", "dist"])[-1],
         r"outside the farm volume"),
    Case("store/ is a link out of the volume", "symlink", _store_outside_replace,
         r"outside the farm volume"),
    Case("superseded/ is a link out of the volume", "symlink", _superseded_outside,
         r"outside the farm volume"),
    # --- taken places --------------------------------------------------------------------
    Case("delivery name taken by another file", "dist", _dist_taken, r"already exists"),
    Case("archive already there", "archives", _archive_exists, r"already exists",
         codes=(1,)),
]


def read_only_cases() -> list[Case]:
    """Every writing command on a read-only volume (a real read-only bind mount when this
    machine allows one, else EROFS on every write at the write layer)."""
    return [
        Case(f"read-only volume: {name}", "volume", argv, r"read-only", codes=(1, 2),
             read_only=True)
        for name, argv in (
            ("plan", lambda c: _plan(c, "autumn", c.src())),
            ("seed", lambda c: ["seed", "job", c.src(), "quickie"]),
            ("harvest", lambda c: _harvest()),
            ("replace", lambda c: ["replace", "job", "a", "--release", "spring"]),
            ("archive", lambda c: ["archive", "release", "spring"]),
        )
    ]


# --------------------------------------------------------------------------------------------
# Running the table


def tree(root: Path) -> dict[str, str]:
    """path -> what is there (file checksum, link target, "dir"), never following links.
    Lock files are taken as present or not: locking rewrites them."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            elif name in dirnames:
                out[rel + "/"] = "dir"
            elif name == ".lock":
                out[rel] = "lock"
            else:
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def manager_state(lab: Lab) -> list[tuple[str, str, bool]]:
    with lab.emu.store.lock:
        return sorted((j.id, j.status, j.delete_requested_at is None)
                      for j in lab.emu.jobs.values())


@dataclass
class CaseResult:
    case: Case
    code: int | None
    message: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@contextlib.contextmanager
def read_only_mount(lab: Lab) -> Iterator[Path | None]:
    """The volume bind-mounted read-only at ``<base>/ro`` (None when this machine does not
    allow mounting: then the caller simulates EROFS)."""
    if os.environ.get("FARM_ROBUST_SIMULATE_RO"):  # test the simulation where mounting works
        yield None
        return
    point = lab.base / "ro"
    point.mkdir(exist_ok=True)
    ok = _run(["mount", "--bind", str(lab.volume.root), str(point)])
    if ok and not _run(["mount", "-o", "remount,ro,bind", str(point)]):
        _run(["umount", str(point)])
        ok = False
    try:
        yield point if ok else None
    finally:
        if ok:
            _run(["umount", str(point)])


def run_case(case: Case, lab: Lab, state: State) -> CaseResult:
    """Run one case from ``state``; see the module's docstring for what is checked."""
    lab.restore(state)
    outside = lab.base / "outside"
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    (outside / "bait.png").write_bytes(b"\x89PNG bait")
    (outside / "secret.txt").write_text("keep me")
    shutil.rmtree(lab.work / "renamed", ignore_errors=True)
    ctx = Ctx(lab, outside)
    argv = case.argv(ctx)
    volume_before, outside_before = tree(lab.volume.root), tree(outside)
    jobs_before = manager_state(lab)
    env = dict(case.env or {})
    with contextlib.ExitStack() as stack:
        mounted = stack.enter_context(read_only_mount(lab)) if case.read_only else None
        if mounted is not None:
            env["FARM_VOLUME"] = str(mounted)
        simulated = case.read_only and mounted is None
        answer: dict[str, Any] = lab.farm(argv, env=env, fail_at=1 if simulated else None,
                                          errno=errno.EROFS if simulated else 0,
                                          fail_every=simulated)
    message = answer["err"].strip().splitlines()[-1] if answer["err"].strip() else ""
    said = answer["err"] + answer["out"]
    errors = [line for line in said.splitlines()
              if line.startswith(("farm: error:", "warning:", "Deleted "))]
    problems: list[str] = []
    if answer.get("signal"):
        problems.append(f"died with signal {answer['signal']}")
    elif answer["code"] not in case.codes:
        problems.append(f"exited {answer['code']}, not {case.codes}: {answer['err'][-500:]}")
    if "Traceback" in answer["err"]:
        problems.append(f"printed a traceback: {answer['err'][-500:]}")
    if not errors:
        problems.append(f"no error message: {answer['err'][-300:]}")
    elif not re.search(case.says, " ".join(errors), re.I | re.S):
        problems.append(f"the message does not name the problem ({case.says!r}): {errors[-1]}")
    else:
        message = errors[-1]
    volume_after = tree(lab.volume.root)
    if volume_after != volume_before and not case.succeeds:
        changed = sorted(set(volume_after.items()) ^ set(volume_before.items()))
        problems.append(f"the volume changed: {changed[:6]}")
    if tree(outside) != outside_before:
        problems.append("the folder outside the volume changed")
    if manager_state(lab) != jobs_before and not case.succeeds:
        problems.append("the Manager's jobs changed")
    return CaseResult(case, answer.get("code"), message, problems)


def prepare_table(lab: Lab) -> State:
    """The starting state of every case."""
    from tests.robust.crash import rendered

    rendered(lab)
    # Sources for --name templates: two parts in their paths.
    for part, file in (("p1", "f1"), ("p2", "f2")):
        target = lab.work / part / f"{file}.blend"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lab.sources["a"], target)
    return lab.capture()


def all_cases() -> list[Case]:
    return [*CASES, *read_only_cases()]


def run_table(lab: Lab, report: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Every case of :data:`CASES` and the read-only volume cases, from one starting state."""
    state = prepare_table(lab)
    results = []
    for case in all_cases():
        results.append(run_case(case, lab, state))
        if report is not None:
            report(results[-1])
    return results


def can_mount() -> bool:
    """Whether this machine lets the suite make a read-only bind mount (root with
    CAP_SYS_ADMIN); without it the read-only cases simulate EROFS at the write layer."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        point = Path(tmp) / "m"
        point.mkdir()
        if not _run(["mount", "--bind", tmp, str(point)]):
            return False
        _run(["umount", str(point)])
        return True


def _run(argv: list[str]) -> bool:
    """Run a mount command; False if it failed or this machine has no such command."""
    try:
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0
    except OSError:
        return False
