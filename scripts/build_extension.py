#!/usr/bin/env python3
"""Build the Farm extension: one zip per platform, with Blender's own extension builder.

    python scripts/build_extension.py --output-dir DIR [--platform linux-x64] [--wheel-cache DIR]

Steps:
1. Download the wheels listed in ``blender_manifest.toml`` (exact files, from PyPI) into a cache.
2. Assemble the extension's folder: the manifest, the contents of ``farm_addon/`` and ``wheels/``
   (Blender's tool refuses a folder without ``__init__.py`` beside the manifest, and our manifest
   lives at the top of the repository).
3. ``blender_ext.py validate`` that folder, then ``build --split-platforms`` into DIR, then
   ``validate`` each zip.

Blender's tool ships in the ``bpy`` wheel (``bpy/<ver>/scripts/addons_core/bl_pkg/cli/``); set
``FARM_BLENDER_EXT`` to use another copy. Standard library only (plus pip for downloads).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
PACKAGE = ROOT / "farm_addon"

# Wheel platform tag -> what to ask pip for.
_PIP_PLATFORM = {
    "manylinux2014_x86_64.manylinux_2_17_x86_64": "manylinux2014_x86_64",
    "macosx_10_12_x86_64": "macosx_10_12_x86_64",
    "macosx_11_0_arm64": "macosx_11_0_arm64",
    "win_amd64": "win_amd64",
}


def find_blender_ext() -> Path:
    import os

    if os.environ.get("FARM_BLENDER_EXT"):
        return Path(os.environ["FARM_BLENDER_EXT"])
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("build_extension: the `bpy` module is not installed; "
                 "run `python3 scripts/dev.py setup`.")
    base = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        sys.exit(f"build_extension: Blender's extension tool was not found under {base}.")
    return found[-1]


def wheel_request(filename: str) -> tuple[list[str], str]:
    """pip arguments that fetch exactly this wheel file, and the distribution spec."""
    stem = filename.removesuffix(".whl")
    name, version, pytag, _abi, plat = stem.split("-", 4)
    spec = f"{name.replace('_', '-')}=={version}"
    args = ["--no-deps", "--only-binary=:all:"]
    if plat != "any":
        args += ["--platform", _PIP_PLATFORM.get(plat, plat), "--implementation", "cp",
                 "--python-version", f"{pytag[2]}.{pytag[3:]}"]
    return args, spec


def fetch_wheels(names: list[str], cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for filename in names:
        if (cache / filename).exists():
            continue
        args, spec = wheel_request(filename)
        print(f"downloading {filename}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             *args, "-d", str(cache), spec],
            check=True,
        )
        if not (cache / filename).exists():
            sys.exit(f"build_extension: pip did not produce {filename}; "
                     "fix the manifest's wheels list.")


def assemble(dest: Path, wheels: list[str], cache: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "__main__.py")
    shutil.copytree(PACKAGE, dest, ignore=ignore)
    shutil.copy2(MANIFEST, dest / "blender_manifest.toml")
    shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")
    (dest / "wheels").mkdir()
    for filename in wheels:
        shutil.copy2(cache / filename, dest / "wheels" / filename)


def run_tool(tool: Path, *args: str) -> None:
    rc = subprocess.run([sys.executable, str(tool), *args], check=False).returncode
    if rc:
        sys.exit(f"build_extension: Blender's extension tool failed ({args[0]}, exit {rc}); "
                 "see above.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output-dir", required=True, type=Path)
    ap.add_argument("--wheel-cache", type=Path, default=ROOT / ".cache" / "wheels")
    ap.add_argument("--platform", action="append", default=None,
                    help="only these platforms (repeatable), e.g. linux-x64")
    args = ap.parse_args(argv)

    manifest = tomllib.loads(MANIFEST.read_text())
    wheels = [Path(w).name for w in manifest.get("wheels", [])]
    fetch_wheels(wheels, args.wheel_cache)
    tool = find_blender_ext()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="farm-build-") as tmp:
        src = Path(tmp) / manifest["id"]
        assemble(src, wheels, args.wheel_cache)
        if args.platform:
            unknown = set(args.platform) - set(manifest["platforms"])
            if unknown:
                sys.exit(f"build_extension: unknown platform(s) {sorted(unknown)}; "
                         f"the manifest lists {manifest['platforms']}.")
            path = src / "blender_manifest.toml"
            wanted = ", ".join(f'"{p}"' for p in args.platform)
            path.write_text(re.sub(r"(?m)^platforms = \[.*\]$", f"platforms = [{wanted}]",
                                   path.read_text()))
        run_tool(tool, "validate", str(src))
        run_tool(tool, "build", "--source-dir", str(src), "--output-dir", str(args.output_dir),
                 "--split-platforms")
    zips = sorted(args.output_dir.glob(f"{manifest['id']}-{manifest['version']}-*.zip"))
    for z in zips:
        run_tool(tool, "validate", str(z))
        print(f"built {z}")
    return 0 if zips else 1


if __name__ == "__main__":
    sys.exit(main())
