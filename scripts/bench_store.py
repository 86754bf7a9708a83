"""Benchmark: store and archive bytes of N jobs sharing D bytes of dependencies.

One textured .blend (tests/blendgen.py, cached under ``--cache``) is copied N times into one
folder, so all N blends use the same two texture files, which are first filled with ``--deps-mb``
MB of incompressible bytes (D). Each N is planned twice on a fresh volume served by the Flamenco
Manager emulator (3.8.5 API, in this process, spec validation off), then archived:

- farm as it is: each dependency stored once in ``pool/``, the jobs' files hard links of it;
- the baseline, in the same run: the same code with hard links refused by the file system
  (``os.link`` raising EXDEV, as on a share without links), which copies every dependency per
  job, as farm did before the pool (N x D).

Printed beside them: N x D and the floor D + N x (the blend). Disk bytes count each inode once
(allocated blocks, as ``du`` does), archive bytes are the ``.tar.gz`` size::

    python scripts/bench_store.py                 # N = 100 and 1,000, D = 8 MB
    python scripts/bench_store.py --jobs 100 --deps-mb 4 --json
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from farm_addon.core.archive.run import archive_release  # noqa: E402
from farm_addon.core.fs.volume import Volume  # noqa: E402
from farm_addon.core.release.plan import PlanRequest, plan_release  # noqa: E402
from farm_addon.core.session import FarmSession  # noqa: E402
from farm_addon.core.settings import Settings  # noqa: E402
from tests.blendgen import make_blends  # noqa: E402
from tests.emulator import Emulator  # noqa: E402


def textured_scene(cache: Path) -> Path:
    """The cached textured scene: ``scene/bench_tex.blend`` using ``scene/textures/wood.png``
    and ``shared/metal.png``."""
    blend = cache / "bench_tex" / "scene" / "bench_tex.blend"
    if not blend.is_file():
        make_blends(cache, [{"kind": "textured", "name": "bench_tex", "frames": [1, 1, 1]}])
    return blend


def disk_bytes(top: Path) -> int:
    """Allocated bytes under ``top``, each inode counted once (``du``'s rule)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


@contextmanager
def links_refused() -> Iterator[None]:
    """The file system of a share without hard links, for the baseline run."""
    real = os.link

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link (refused for the baseline)")

    os.link = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        os.link = real


def one_run(sources: Path, work: Path, n: int) -> dict[str, Any]:
    """Plan the N blends of ``sources`` as one release, then archive it."""
    emu = Emulator(version="3.8.5", storage=work / "volume", worker="none", validate=False)
    emu.start()
    try:
        volume = Volume.init(emu.storage)
        settings = Settings(manager_url=emu.url, volume=volume.root, project="bench")
        with FarmSession(settings, volume=volume) as session:
            t0 = time.perf_counter()
            result = plan_release(
                session, PlanRequest(release="bench", sources=[str(sources)], cwd=work))
            plan_s = time.perf_counter() - t0
        submitted = sum(1 for o in result.jobs if o.ok)
        # The archive of a planned release (nothing rendered: the store is what is compared).
        t0 = time.perf_counter()
        archived = archive_release(volume, "bench")
        archive_s = time.perf_counter() - t0
        return {
            "jobs": n, "submitted": submitted, "plan_s": round(plan_s, 2),
            "store_bytes": disk_bytes(volume.store_dir("bench")) + disk_bytes(volume.pool_dir),
            "archive_bytes": archived.path.stat().st_size, "archive_s": round(archive_s, 2),
            "warnings": sorted(set(result.warnings)),
        }
    finally:
        emu.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="100,1000", help="N values, comma-separated")
    parser.add_argument("--deps-mb", type=float, default=8.0, help="D, in MB (default 8)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--json", action="store_true", help="one JSON object per N")
    args = parser.parse_args(argv)
    ns = [int(x) for x in args.jobs.split(",") if x.strip()]

    scene = textured_scene(args.cache.absolute())
    rows = []
    with tempfile.TemporaryDirectory(prefix="farm-bench-store-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "src"
        shutil.copytree(scene.parent.parent, src)
        deps = [src / "scene" / "textures" / "wood.png", src / "shared" / "metal.png"]
        d_bytes = int(args.deps_mb * 1e6)
        for i, dep in enumerate(deps):  # incompressible, as real maps mostly are
            dep.write_bytes(os.urandom(d_bytes // len(deps) + (i == 0) * (d_bytes % len(deps))))
        blend = src / "scene" / scene.name
        blend_bytes = blend.stat().st_size
        for n in ns:
            for i in range(n):
                shutil.copyfile(blend, src / "scene" / f"asset_{i:05d}.blend")
            sources = src / "scene"
            blend.rename(tmp / "held.blend")  # only the N copies are planned
            try:
                farm = one_run(sources, tmp / f"pool{n}", n)
                with links_refused():
                    base = one_run(sources, tmp / f"copies{n}", n)
            finally:
                (tmp / "held.blend").rename(blend)
                for i in range(n):
                    (src / "scene" / f"asset_{i:05d}.blend").unlink()
                for w in (tmp / f"pool{n}", tmp / f"copies{n}"):
                    shutil.rmtree(w, ignore_errors=True)
            row = {"bench": "bench_store", "manager": "emulator 3.8.5 API", "jobs": n,
                   "deps_bytes": d_bytes, "blend_bytes": blend_bytes,
                   "n_times_d": n * d_bytes, "floor": d_bytes + n * blend_bytes,
                   "farm": farm, "copies_baseline": base}
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                mb = 1e6
                print(f"N = {n} jobs sharing D = {d_bytes / mb:.1f} MB "
                      f"(blend {blend_bytes / 1e3:.0f} kB); Manager: the emulator (3.8.5 API)")
                print(f"  N x D                          {n * d_bytes / mb:>10.1f} MB")
                print(f"  floor D + N x blend            {row['floor'] / mb:>10.1f} MB")
                for label, r in (("farm (pool, hard links)", farm),
                                 ("baseline (links refused)", base)):
                    store, packed = r["store_bytes"], r["archive_bytes"]
                    print(f"  {label:<24} store {store / mb:>8.1f} MB "
                          f"({store / row['floor']:.2f}x floor)  archive {packed / mb:>8.1f} MB "
                          f"({packed / row['floor']:.2f}x floor)  plan {r['plan_s']:.1f} s  "
                          f"archive {r['archive_s']:.1f} s  {r['submitted']}/{n} submitted")
                for w in base["warnings"]:
                    print(f"  baseline warned: {w}")
    return 0 if all(r["farm"]["submitted"] == r["jobs"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
