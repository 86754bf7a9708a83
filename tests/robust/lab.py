"""A small farm to break things in: an emulated Manager, a farm volume on its storage, source
.blend files, the fork server that runs ``farm`` and kills it, snapshots to start every kill
point from the same state, and the invariants checked after each rerun.

Nothing here is pytest-specific: ``scripts/robustness_report.py`` and ``scripts/soak.py`` use
it as well as the tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm_addon.core.fs.atomic import TEMP_PREFIX
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.record import RecordStore, ReleaseRecord
from tests.blendgen import copy_kind, make_blends
from tests.emulator import Emulator
from tests.emulator.pngwrite import png_bytes

ROOT = Path(__file__).resolve().parents[2]
BLEND_CACHE = ROOT / ".cache" / "robust-blends"
IMAGE_SUFFIXES = (".png", ".jpg", ".exr")
FARM_ENV = {"FARM_PROJECT": "robust", "FARM_USER_NAME": "Nothing Lost",
            "FARM_USER_EMAIL": "lost@example.com"}

# Three small jobs: a plain scene, one with textures inside and outside its folder, and a
# second plain scene with another frame range: 12 frames in all.
BLEND_SPECS: list[dict[str, Any]] = [
    {"kind": "simple", "name": "a", "scene": "Shot", "frames": [1, 4, 1]},
    {"kind": "textured", "name": "b", "frames": [1, 3, 1]},
    {"kind": "simple", "name": "c", "scene": "Shot", "frames": [2, 6, 1]},
]


def robust_blends(cache: Path = BLEND_CACHE) -> dict[str, Path]:
    """The harness's source files, made by Blender once and kept in ``cache``."""
    key = hashlib.sha256(
        json.dumps(BLEND_SPECS, sort_keys=True).encode()
        + (ROOT / "tests" / "blendgen.py").read_bytes()
    ).hexdigest()[:16]
    base = cache / key
    index = base / "index.json"
    if index.is_file():
        paths = {k: Path(v) for k, v in json.loads(index.read_text()).items()}
        if all(p.is_file() for p in paths.values()):
            return paths
    made = make_blends(base, BLEND_SPECS)
    index.write_text(json.dumps({k: str(v) for k, v in made.items()}))
    return made


# --------------------------------------------------------------------------------------------
# The fork server


class ForkServer:
    """``python -m tests.robust.killpoint``: runs ``farm`` in forked children of a warm
    process, optionally killing them at the Nth file or HTTP operation."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.robust.killpoint"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._tmp = Path(tempfile.mkdtemp(prefix="farm-forkserver-"))

    def run(self, argv: Sequence[str], *, env: dict[str, str], cwd: Path, root: Path,
            kill_at: int | None = None, trace: bool = False, fail_at: int | None = None,
            errno: int = 0, fail_every: bool = False) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        req = {"argv": list(argv), "env": env, "cwd": str(cwd), "root": str(root),
               "kill_at": kill_at, "trace": trace, "fail_at": fail_at, "errno": errno,
               "fail_every": fail_every,
               "out": str(self._tmp / "out.txt"), "err": str(self._tmp / "err.txt")}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self._tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The lab


@dataclass
class State:
    """A copy of the volume and of the emulator's database."""

    disk: Path
    emu: tuple[Any, ...]


@dataclass
class Lab:
    base: Path
    emu: Emulator
    volume: Volume
    work: Path
    sources: dict[str, Path]
    server: ForkServer
    env: dict[str, str]
    release: str = "spring"
    #: Extra options of every plan (``--frames 1-24`` makes bigger releases for the soak).
    plan_options: list[str] = field(default_factory=list)
    _renders: int = 0

    @classmethod
    def create(cls, base: Path, blends: dict[str, Path], server: ForkServer,
               extra_jobs: int = 0, **emu_options: Any) -> Lab:
        base.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"worker": "instant", "deletion_delay": None, **emu_options}
        emu = Emulator(storage=base / "volume", **options)
        emu.start()
        volume = Volume.init(emu.storage)
        work = base / "work"
        work.mkdir()
        sources = {name: copy_kind(path, work) for name, path in blends.items()}
        for n in range(extra_jobs):  # bigger releases for the soak
            extra = work / "extra" / f"x{n:02d}.blend"
            extra.parent.mkdir(exist_ok=True)
            shutil.copy2(blends["a"], extra)
            sources[extra.stem] = extra
        env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
        env.update(FARM_ENV, FARM_MANAGER_URL=emu.url, FARM_VOLUME=str(volume.root))
        return cls(base, emu, volume, work, sources, server, env)

    def close(self) -> None:
        self.emu.stop()

    # --- running farm ---------------------------------------------------------------------

    def farm(self, argv: Sequence[str], kill_at: int | None = None, trace: bool = False,
             fail_at: int | None = None, errno: int = 0, fail_every: bool = False,
             env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
        """``farm ARGV`` in a forked child: killed before operation ``kill_at``, or with the
        ``fail_at``-th disk operation (and every later one, with ``fail_every``) failing with
        ``errno``, if given."""
        return self.server.run(argv, env={**self.env, **(env or {})}, cwd=cwd or self.work,
                               root=self.volume.root, kill_at=kill_at, trace=trace,
                               fail_at=fail_at, errno=errno, fail_every=fail_every)

    def plan_argv(self, release: str | None = None) -> list[str]:
        return ["plan", "release", release or self.release,
                *[str(p) for p in self.sources.values()], *self.plan_options]

    def render(self) -> None:
        """Render every queued task, then give every frame unique bytes, so that each one
        can be followed by its checksum wherever it is moved."""
        self.emu.run_worker()
        self._renders += 1
        frames = [*self.volume.releases_dir.glob("*/out/*/*.png"),
                  *self.volume.quick_dir.glob("out/*/*.png")]
        for path in sorted(frames):
            rel = path.relative_to(self.volume.root).as_posix()
            digest = hashlib.sha256(f"{rel} {self._renders}".encode()).digest()
            path.write_bytes(png_bytes(4, 4, (digest[0], digest[1], digest[2])))

    # --- states ---------------------------------------------------------------------------

    def capture(self) -> State:
        disk = Path(tempfile.mkdtemp(prefix="state-", dir=self.base))
        shutil.rmtree(disk)
        shutil.copytree(self.volume.root, disk, symlinks=True)
        store = self.emu.store
        with store.lock:
            emu = copy.deepcopy((store.jobs, store.tasks, store.workers, store.tags,
                                 store.last_rendered_job))
        return State(disk, emu)

    def restore(self, state: State) -> None:
        self.emu.faults.clear()
        shutil.rmtree(self.volume.root)
        shutil.copytree(state.disk, self.volume.root, symlinks=True)
        jobs, tasks, workers, tags, last = copy.deepcopy(state.emu)
        store = self.emu.store
        with store.lock:
            for mine, theirs in ((store.jobs, jobs), (store.tasks, tasks),
                                 (store.workers, workers), (store.tags, tags)):
                mine.clear()
                mine.update(theirs)
            store.last_rendered_job = last

    # --- what is where ----------------------------------------------------------------------

    def inventory(self) -> Inventory:
        return Inventory.take(self.volume)

    def record(self, release: str | None = None) -> ReleaseRecord:
        return RecordStore(self.volume).load(release or self.release)

    def manager_jobs(self, release: str | None = None, live: bool = True) -> list[Any]:
        release = release or self.release
        with self.emu.store.lock:
            return [j for j in self.emu.jobs.values()
                    if j.metadata.get("farm.release") == release
                    and j.metadata.get("farm.volume") == self.volume.id
                    and (not live or j.delete_requested_at is None)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Inventory:
    """Every image file under releases/, dist/ and quick/ (path -> checksum), and every
    temporary file anywhere on the volume."""

    frames: dict[str, str]
    temps: list[str]

    @classmethod
    def take(cls, volume: Volume) -> Inventory:
        frames: dict[str, str] = {}
        temps: list[str] = []
        for dirpath, dirnames, filenames in os.walk(volume.root):
            rel_dir = os.path.relpath(dirpath, volume.root)
            for name in dirnames + filenames:
                if name.startswith(TEMP_PREFIX):
                    temps.append(os.path.normpath(os.path.join(rel_dir, name)))
            if "store" in rel_dir.split(os.sep):
                continue  # packed textures are copies of sources, not frames
            for name in filenames:
                if name.lower().endswith(IMAGE_SUFFIXES):
                    path = os.path.join(dirpath, name)
                    if os.path.islink(path):
                        continue
                    with open(path, "rb") as f:
                        frames[os.path.normpath(os.path.join(rel_dir, name))] = sha(f.read())
        return cls(frames, temps)

    def where(self) -> dict[str, list[str]]:
        """checksum -> every path holding it."""
        out: dict[str, list[str]] = {}
        for path, digest in self.frames.items():
            out.setdefault(digest, []).append(path)
        return out

    def in_(self, *tops: str) -> dict[str, str]:
        return {p: d for p, d in self.frames.items() if p.split(os.sep, 1)[0] in tops}


# --------------------------------------------------------------------------------------------
# Invariants


def frames_exactly_once(before: dict[str, str], after: Inventory,
                        also: Iterable[str] = ()) -> list[str]:
    """Every frame of ``before`` exists exactly once in ``after`` (or in ``also``: checksums
    held elsewhere, like a checked archive), and no frame appeared twice."""
    problems = []
    where = after.where()
    elsewhere = Counter(also)
    for path, digest in sorted(before.items()):
        places = where.get(digest, [])
        if len(places) > 1:
            problems.append(f"frame {path} exists under {len(places)} names: {places}")
        elif not places and not elsewhere.get(digest):
            problems.append(f"frame {path} is lost")
    known = set(before.values())
    for digest, places in where.items():
        if digest in known:
            continue
        if len(places) > 1:
            problems.append(f"an image exists under {len(places)} names: {places}")
    return problems


def records_match_manager(lab: Lab, *, all_submitted: bool = True,
                          deleted_ok: bool = False) -> list[str]:
    """Every record parses; every job's current revision has exactly one live Manager job with
    matching farm.* metadata; no Manager job of a release is unknown to its record; no
    (release, job, revision) was ever submitted twice. ``deleted_ok``: a job the Manager
    deleted (slash-and-burn) is not a problem."""
    problems: list[str] = []
    store = RecordStore(lab.volume)
    releases_dir = lab.volume.releases_dir
    names = sorted(p.name for p in releases_dir.iterdir()) if releases_dir.is_dir() else []
    with lab.emu.store.lock:
        everything = [(j.id, dict(j.metadata), j.delete_requested_at is None, j.status)
                      for j in lab.emu.jobs.values()]
    mine = [j for j in everything if j[1].get("farm.volume") == lab.volume.id]
    seen: Counter[tuple[str, str, str]] = Counter(
        (m.get("farm.release", ""), m.get("farm.job", ""), m.get("farm.revision", ""))
        for _, m, _, _ in mine)
    for key, n in seen.items():
        if n > 1:
            problems.append(f"{key[0]}/{key[1]} revision {key[2]} was submitted {n} times")
    for name in names:
        if not (releases_dir / name / "release.json").exists():
            leftovers = sorted(p.name for p in (releases_dir / name).iterdir())
            if [x for x in leftovers if x != ".lock"]:
                problems.append(f"releases/{name} holds {leftovers} but no record")
            continue
        try:
            record = store.load(name)
        except Exception as exc:
            problems.append(f"the record of {name} does not load: {exc}")
            continue
        live = {jid: m for jid, m, alive, _ in mine if alive and m.get("farm.release") == name}
        known: set[str] = set()
        for job in record.jobs:
            rev = job.current
            if rev.job_id is None:
                if all_submitted:
                    problems.append(f"{name}/{job.name} r{job.revision} is not submitted "
                                    f"({rev.state})")
                continue
            known.add(rev.job_id)
            meta = live.get(rev.job_id)
            if meta is None and deleted_ok:
                continue
            if meta is None:
                problems.append(f"{name}/{job.name} r{job.revision}: its Manager job "
                                f"{rev.job_id} is not on the Manager")
                continue
            want = {"farm.release": name, "farm.job": job.name,
                    "farm.revision": str(job.revision), "farm.volume": lab.volume.id}
            wrong = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
            if wrong:
                problems.append(f"{name}/{job.name}: Manager metadata differs: {wrong}")
        for jid, meta in live.items():
            if jid not in known:
                problems.append(f"Manager job {jid} ({meta.get('farm.job')} r"
                                f"{meta.get('farm.revision')}) of {name} is not in the record")
    return problems


def no_temporary_files(after: Inventory) -> list[str]:
    return [f"temporary file left: {p}" for p in after.temps]


def archive_problems(lab: Lab, expected: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(problems, checksums of the archived images)`` of archives/<release>.tar.gz, if any.

    ``expected`` maps member names to the checksums they must have."""
    path = lab.volume.archive_path(lab.release)
    if not path.exists():
        return [], []
    problems: list[str] = []
    images: list[str] = []
    found: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    digest = sha(f.read())
                    found[member.name] = digest
                    if member.name.lower().endswith(IMAGE_SUFFIXES):
                        images.append(digest)
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    problems.append(f"unsafe member {member.name}")
    except (OSError, tarfile.TarError, EOFError) as exc:
        return [f"the archive {path.name} does not read back: {exc}"], []
    for name, digest in expected.items():
        if found.get(name) != digest:
            problems.append(f"the archive lacks {name}" if name not in found
                            else f"the archive's {name} differs")
    return problems, images


def release_files(lab: Lab) -> dict[str, str]:
    """Archive member name -> checksum of every file an archive of the release must hold."""
    out: dict[str, str] = {}
    rel_dir = lab.volume.release_dir(lab.release)
    for top, prefix in ((rel_dir, lab.release), (lab.volume.dist_dir(lab.release),
                                                  f"{lab.release}/dist")):
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.name not in (
                    ".lock", ".farm-archived.json") and not path.name.startswith(TEMP_PREFIX):
                out[f"{prefix}/{path.relative_to(top).as_posix()}"] = sha(path.read_bytes())
    return out
