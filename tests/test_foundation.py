"""The skeleton: packaging, the manifest, the CLI's conventions, and the core without bpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run_py(code: str, *args: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def test_core_imports_without_bpy() -> None:
    """Every module under farm_addon.core imports in a Python where `bpy` cannot be imported."""
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        sys.modules["bpy"] = None          # any `import bpy` now raises ImportError
        import farm_addon.core as core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "farm_addon.core.")]
        for name in names:
            importlib.import_module(name)
        assert "bpy" not in {k for k, v in sys.modules.items() if v is not None}
        print(len(names))
    """)
    out = run_py(code)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 3


def test_package_import_does_not_load_blender_layer() -> None:
    out = run_py("import sys; sys.modules['bpy'] = None; import farm_addon; "
                 "print('farm_addon.blender' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_manifest_fields() -> None:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    from farm_addon import __version__

    assert manifest["schema_version"] == "1.0.0"
    assert manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert manifest["version"] == __version__ == pyproject["project"]["version"]
    tagline = manifest["tagline"]
    assert len(tagline) <= 64 and tagline[-1] not in ".!?,;:"
    assert set(manifest["permissions"]) == {"network", "files"}
    # The compiled pydantic-core ships for every platform and for both of Blender's Pythons.
    wheels = [Path(w).name for w in manifest["wheels"]]
    core = [w for w in wheels if w.startswith("pydantic_core-")]
    for py in ("cp311", "cp313"):
        for plat in ("manylinux", "macosx_10_12_x86_64", "macosx_11_0_arm64", "win_amd64"):
            assert any(f"-{py}-{py}-" in w and plat in w for w in core), (py, plat)
    pure = {w.split("-")[0] for w in wheels if w.endswith("-py3-none-any.whl")}
    assert {"pydantic", "annotated_types", "typing_extensions", "typing_inspection",
            "blender_asset_tracer"} <= pure


def farm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "farm_addon", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_cli_help_and_version() -> None:
    out = farm("--help")
    assert out.returncode == 0
    for option in ("--manager", "--volume", "--json", "--yes", "--dry-run", "--verbose", "--quiet"):
        assert option in out.stdout
    assert "exit codes" in out.stdout
    out = farm("--version")
    from farm_addon import __version__

    assert out.returncode == 0 and out.stdout.strip() == f"farm {__version__}"


def test_cli_usage_errors_exit_2() -> None:
    out = farm()
    assert out.returncode == 2
    out = farm("--no-such-option")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
    out = farm("no-such-verb")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_console_script_matches_module_entry() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["farm"] == "farm_addon.core.cli:console_main"
    exe = Path(PY).parent / "farm"
    if exe.exists():  # installed by `pip install -e .` in the dev environment
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
        assert out.returncode == 0 and out.stdout == farm("--version").stdout


INSTALL_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import bpy
    zip_path, repo_dir = sys.argv[-2], sys.argv[-1]
    bpy.context.preferences.system.use_online_access = True
    bpy.context.preferences.extensions.repos.new(name="zt", module="zt", custom_directory=repo_dir)
    res = {}
    res["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="zt", enable_on_install=False))
    res["before"] = sorted(dir(bpy.ops.farm))
    res["enable"] = sorted(bpy.ops.preferences.addon_enable(module="bl_ext.zt.farm"))
    mod = sys.modules["bl_ext.zt.farm"]
    res["file"] = mod.__file__
    res["ops"] = sorted(dir(bpy.ops.farm))
    res["scene_prop"] = hasattr(bpy.types.Scene, "farm")
    site = os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".local", "lib",
                        "python3.11", "site-packages")
    res["site"] = sorted(os.listdir(site)) if os.path.isdir(site) else []
    res["so"] = sorted(os.listdir(os.path.join(site, "pydantic_core"))) if res["site"] else []
    res["disable"] = sorted(bpy.ops.preferences.addon_disable(module="bl_ext.zt.farm"))
    res["after"] = sorted(dir(bpy.ops.farm))
    res["scene_prop_after"] = hasattr(bpy.types.Scene, "farm")
    res["panels_after"] = [n for n in dir(bpy.types) if n.startswith("FARM_")]
    print("RESULT " + json.dumps(res))
""")


@pytest.mark.slow
@pytest.mark.blender
def test_built_zip_installs_into_real_blender(tmp_path: Path) -> None:
    """Build the linux-x64 zip with Blender's own tool, install it as a user would, enable it,
    check its operators, disable it and check nothing is left registered."""
    out_dir = tmp_path / "dist"
    build = subprocess.run(
        [PY, "scripts/build_extension.py", "--output-dir", str(out_dir), "--platform", "linux-x64"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    zips = list(out_dir.glob("farm-*-linux_x64.zip"))
    assert len(zips) == 1, list(out_dir.iterdir())
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender-home"))
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    proc = subprocess.run([PY, "-c", INSTALL_SCRIPT, str(zips[0]), str(repo_dir)], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    # Blender prints leak-detector noise at exit; only the exit code and our result count.
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    res = json.loads(line.removeprefix("RESULT "))
    assert res["install"] == ["FINISHED"] and res["enable"] == ["FINISHED"]
    assert res["file"].startswith(str(repo_dir)), "Blender loaded farm from somewhere else"
    assert res["before"] == []
    for op in ("refresh", "seed_job", "plan_release", "harvest_release", "archive_release",
               "kill_jobs", "slash_and_burn", "replace_job"):
        assert op in res["ops"], res["ops"]
    assert res["scene_prop"] is True
    assert res["disable"] == ["FINISHED"]
    assert res["after"] == [] and res["scene_prop_after"] is False and res["panels_after"] == []
    # While enabled, Blender had installed the wheels that match its Python (3.11) from the zip.
    assert {"pydantic", "pydantic_core", "blender_asset_tracer"} <= set(res["site"]), res["site"]
    assert any(n.startswith("_pydantic_core.cpython-311-") for n in res["so"]), res["so"]


@pytest.mark.parametrize("argv", [
    ["--manager", "http://m:1", "--volume", "/v", "--json", "--yes", "--dry-run", "-v",
     "--timeout", "7.5", "status"],
    ["status", "--manager", "http://m:1", "--volume", "/v", "--json", "--yes", "--dry-run", "-v",
     "--timeout", "7.5"],
    ["--manager", "http://m:1", "--json", "-v", "--timeout", "7.5", "status", "--volume", "/v",
     "--yes", "--dry-run"],
])
def test_global_options_before_or_after_the_verb(argv: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from farm_addon.core.cli import build_parser
    from farm_addon.core.cli.context import Context

    monkeypatch.setenv("FARM_MANAGER_URL", "http://from-env:9")
    monkeypatch.setenv("FARM_VOLUME", "/from-env")
    monkeypatch.setenv("FARM_TIMEOUT", "not even a number")  # the option wins: not read
    ctx = Context.from_args(build_parser().parse_args(argv))
    assert ctx.settings.manager_url == "http://m:1"  # the option wins over the environment
    assert str(ctx.settings.volume) == "/v"
    assert ctx.settings.timeout == 7.5 and ctx.settings.client_timeout == (3.05, 7.5)
    assert (ctx.json, ctx.yes, ctx.dry_run, ctx.verbosity) == (True, True, True, 1)


def test_environment_fills_what_options_leave_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from farm_addon.core.cli import build_parser
    from farm_addon.core.cli.context import Context

    monkeypatch.setenv("FARM_MANAGER_URL", "http://from-env:9")
    monkeypatch.setenv("FARM_VOLUME", "/from-env")
    monkeypatch.setenv("FARM_TIMEOUT", "2")
    ctx = Context.from_args(build_parser().parse_args(["status", "-q"]))
    assert ctx.settings.timeout == 2.0 and ctx.settings.client_timeout == (2.0, 2.0)
    assert ctx.settings.manager_url == "http://from-env:9"
    assert str(ctx.settings.volume) == "/from-env"
    assert (ctx.json, ctx.yes, ctx.dry_run, ctx.verbosity) == (False, False, False, -1)
