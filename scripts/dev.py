#!/usr/bin/env python3
"""Set up the development environment when needed, then run a project task.

    python3 scripts/dev.py demo     # the demo: a release on the Manager emulator
    python3 scripts/dev.py test     # ruff, mypy --strict on the core, then the whole pytest suite
    python3 scripts/dev.py setup    # only set up (.venv on Python 3.11, everything for development)
    python3 scripts/dev.py bench    # every benchmark, one table
    python3 scripts/dev.py farm ... # the farm CLI from the development environment

Standard library only: this runs before anything is installed. Set-up is skipped when the
virtual environment already matches pyproject.toml (a stamp file holds its hash).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("FARM_VENV", ROOT / ".venv"))
STAMP = VENV / ".farm-setup-stamp"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(text: str) -> None:
    print(f"[dev] {text}", flush=True)


def find_python311() -> str:
    """A Python 3.11 interpreter: the `bpy` 4.5 wheel exists only for 3.11."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    for name in ("python3.11", "python3", "python"):
        exe = shutil.which(name)
        if not exe:
            continue
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if out.stdout.strip() == "3.11":
            return exe
    sys.exit(
        "[dev] Python 3.11 is needed (Blender 4.5's `bpy` module is built for it). "
        "Install it (for example `apt install python3.11` or pyenv) and run this again."
    )


def wanted_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup() -> None:
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted_stamp():
        return
    if not PY.exists():
        say(f"creating the virtual environment in {VENV}")
        subprocess.run([find_python311(), "-m", "venv", str(VENV)], check=True)
    say("installing farm and its development tools (bpy 4.5 LTS is about 800 MB; once only)")
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted_stamp() + "\n")
    say("set-up done")


def run(*cmd: str) -> int:
    say(" ".join(cmd))
    return subprocess.run(list(cmd), cwd=ROOT, check=False).returncode


def task_test(extra: list[str]) -> int:
    bin_dir = PY.parent
    for cmd in (
        [str(bin_dir / "ruff"), "check", "."],
        [str(PY), "-m", "mypy", "--strict", "farm_addon/core"],
    ):
        rc = run(*cmd)
        if rc:
            say(f"failed: {' '.join(cmd)} (exit {rc})")
            return rc
    return run(str(PY), "-m", "pytest", *extra)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    task, extra = argv[0], argv[1:]
    if task not in ("setup", "test", "demo", "bench", "farm"):
        print(f"[dev] unknown task {task!r}; see `python3 scripts/dev.py --help`", file=sys.stderr)
        return 2
    setup()
    if task == "setup":
        return 0
    if task == "test":
        return task_test(extra)
    if task == "farm":
        return run(str(PY), "-m", "farm_addon", *extra)
    script = {"demo": "scripts/demo.py", "bench": "scripts/bench.py"}[task]
    if not (ROOT / script).exists():
        print(f"[dev] {script} is not written yet.", file=sys.stderr)
        return 1
    return run(str(PY), script, *extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
