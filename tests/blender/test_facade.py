"""The Blender layer reaches the core through the facade alone, and reports the core's own
summaries: the import rule read from every module's source (no Blender needed), then, in real
Blender, what the operators report and that Slash and Burn deletes exactly what it showed."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core import api
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.plan import PlanRequest
from tests.blender.conftest import Farm
from tests.blender.test_operators import farm_jobs, plan, settings_for
from tests.emulator import Emulator

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
BLENDER = ROOT / "farm_addon" / "blender"
#: The core modules the Blender layer may import besides the facade (their types and errors).
ALLOWED = {"farm_addon.core.errors", "farm_addon.core.settings", "farm_addon.core.progress"}
#: The one module that imports the facade itself; the others reach it through it.
FACADE = "farm_addon.blender.coreapi"


def blender_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(BLENDER.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the module at ``path``: for
    ``from X import a, b``, both ``X.a`` and ``X.b`` (either may be a module)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}" if alias.name != "*" else name
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"):
            yield node.lineno, node.args[0].value


def core_module(name: str) -> str | None:
    """``farm_addon.core.<first part>`` for a name inside the core, else None."""
    parts = name.split(".")
    if parts[:2] != ["farm_addon", "core"]:
        return None
    return ".".join(parts[:3])


def test_the_rule_sees_every_module_and_its_imports() -> None:
    modules = dict(blender_modules())
    assert FACADE in modules and "farm_addon.blender.work.job" in modules
    assert len(modules) >= 20
    found = {name for _, name in imported(FACADE, modules[FACADE])}
    assert "farm_addon.core.api" in found  # relative imports are resolved
    job = {name for _, name in imported("farm_addon.blender.work.job",
                                        modules["farm_addon.blender.work.job"])}
    assert "farm_addon.core.progress.Progress" in job


def test_the_blender_layer_reaches_the_core_only_through_the_facade() -> None:
    wrong = []
    for module, path in blender_modules():
        for line, name in imported(module, path):
            core = core_module(name)
            if core is None or core in ALLOWED:
                continue
            if core == "farm_addon.core.api" and module == FACADE:
                continue
            if name == "farm_addon.core" and module == FACADE:
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not wrong, ("the Blender layer imports the core past its facade (use "
                       "blender/coreapi.py, i.e. core/api):\n" + "\n".join(wrong))


def facade_names_used(path: Path) -> Iterator[tuple[int, str]]:
    """(line, name) of ``core_api().NAME``, and of ``x.NAME`` where ``x = core_api()``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

    def is_facade(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "core_api")

    bound = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and is_facade(node.value) for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
            is_facade(node.value) or (isinstance(node.value, ast.Name)
                                      and node.value.id in bound)):
            yield node.lineno, node.attr


def test_every_facade_name_the_blender_layer_uses_exists() -> None:
    used = [(path, line, name) for _, path in blender_modules()
            for line, name in facade_names_used(path)]
    assert len(used) > 10
    missing = [f"{p.relative_to(ROOT)}:{line}: {name}" for p, line, name in used
               if name not in api.__all__]
    assert not missing, "\n".join(missing)


# --- In Blender -------------------------------------------------------------------------------


@pytest.mark.blender
def test_a_multi_line_report_puts_its_first_line_last(farm: Farm) -> None:
    """The status bar shows the last report: the first line goes last, the rest before it;
    an error is reported whole (its popup shows every line)."""

    class Driver(farm.runner.FarmOperator):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []

        def report(self, level: set[str], text: str) -> None:
            self.reports.append((level, text))

    outcome = farm.runner.Outcome
    op = Driver()
    op.report_outcome(outcome("WARNING", "head\nsecond\nthird", True))
    assert op.reports == [({"INFO"}, "second\nthird"), ({"WARNING"}, "head")]
    op.reports.clear()
    op.report_outcome(outcome("ERROR", "head\nwhy", False))
    op.report_outcome(outcome("INFO", "one line", True))
    assert op.reports == [({"ERROR"}, "head\nwhy"), ({"INFO"}, "one line")]


@pytest.mark.blender
def test_summary_report_holds_the_results_own_summary(farm: Farm) -> None:
    report = farm.runner.summary_report
    done = api.ResetReport(deleted=["a"], removed=["quick/x"])
    assert report(done, "Slash and burn: deleted 1 job(s)") == (
        "INFO", f"Slash and burn: deleted 1 job(s)\n{done.summary}")
    failed = api.ResetReport(deleted=[], failed=[("a", "refused")])
    level, text = report(failed, after=["a: refused"])
    assert level == "ERROR" and text == f"{failed.summary}\na: refused"
    assert report(done, warn=True)[0] == "WARNING"
    assert farm.runner.listed([str(n) for n in range(12)], 10)[-1] == "... and 2 more"


@pytest.mark.blender
def test_operators_report_the_core_summaries(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What an operator reports holds the summary the CLI prints for the same result."""
    bpy = configured.bpy
    reports: list[tuple[set[str], str]] = []
    runner: Any = configured.runner
    monkeypatch.setattr(runner.FarmOperator, "report_outcome",
                        lambda self, outcome: reports.append(({outcome.level}, outcome.text)))
    chair = blend_copy("simple", "a/chair.blend")
    assert bpy.ops.farm.plan_release(release="spring", source="FOLDER",
                                     folder=str(chair.parent)) == {"FINISHED"}
    [(level, text)] = reports
    assert level == {"INFO"}
    assert text.splitlines()[-1] == "Planned release 'spring': 1 of 1 job(s) on the farm."
    reports.clear()
    assert bpy.ops.farm.test_connection() == {"FINISHED"}
    connection = api.check_connection(settings_for(emulator, volume))
    assert reports == [({"INFO"}, connection.summary)]
    assert f"Flamenco Manager {emulator.version}" in connection.summary


@pytest.mark.blender
def test_slash_and_burn_deletes_exactly_what_was_shown(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy = configured.bpy
    assert bpy.ops.farm.slash_and_burn(interactive=True) == {"FINISHED"}
    assert "spring/chair" in configured.state.reset_summary
    # While the dialog is open, a job is added: it was not shown, so it stays.
    request = PlanRequest(release="spring", sources=[str(blend_copy("simple", "b/lamp.blend"))],
                          cwd=volume.root, add=True)
    api.plan_release(settings_for(emulator, volume), request)
    assert bpy.ops.farm.slash_and_burn(confirmed=True) == {"FINISHED"}
    emulator.process_deletions()
    assert [j.metadata["farm.job"] for j in farm_jobs(emulator)] == ["lamp"]
    # A confirmation with nothing listed before it is refused.
    with pytest.raises(RuntimeError, match="Nothing was listed to confirm"):
        bpy.ops.farm.slash_and_burn(confirmed=True)
    assert [j.metadata["farm.job"] for j in farm_jobs(emulator)] == ["lamp"]
