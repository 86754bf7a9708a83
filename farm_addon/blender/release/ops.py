# SPDX-License-Identifier: GPL-3.0-or-later
"""The operators on releases: plan one, harvest, archive, replace a job, open its folders.

Planning the current file saves it first if it has unsaved changes, as seeding does (see
``common.saved_blend``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy.types import Operator

from ...core.errors import BadInput
from ..common import (
    core_api,
    dialog,
    farm_settings,
    farm_state,
    require_release,
    saved_blend,
    selected_job,
    selected_release,
)
from ..farm.ops import FarmChanging
from ..work import Outcome, Work, listed, summary_report

SOURCE_ITEMS = [
    ("CURRENT_FILE", "Current File", "This .blend (saved first if it has changes)",
     "FILE_BLEND", 0),
    ("FOLDER", "Folder", "Every .blend in a folder and its subfolders", "FILE_FOLDER", 1),
    ("PATTERN", "Pattern", "A pattern like //shots/*/main.blend or //assets/{object}.blend",
     "VIEWZOOM", 2),
    ("PLAN_FILE", "Plan File", "A plan file (.toml) listing sources and settings", "FILE_TEXT", 3),
]


class FARM_OT_plan_release(FarmChanging, Operator):
    """Plan a release: pack the chosen .blend files onto the volume and submit one job each"""

    bl_idname = "farm.plan_release"
    bl_label = "Farm: Plan Release"
    bl_options = {"REGISTER"}

    release: StringProperty(  # type: ignore[valid-type]
        name="Release",
        description="Name of the release (empty: the plan file's, or release-<date>)",
    )
    source: EnumProperty(  # type: ignore[valid-type]
        name="Sources", items=SOURCE_ITEMS, default="CURRENT_FILE"
    )
    folder: StringProperty(  # type: ignore[valid-type]
        name="Folder", subtype="DIR_PATH", description="The folder holding the .blend files"
    )
    pattern: StringProperty(  # type: ignore[valid-type]
        name="Pattern",
        description="Glob for .blend files, relative to this file's folder with //; "
                    "{name} parts become job metadata",
    )
    plan_file: StringProperty(  # type: ignore[valid-type]
        name="Plan File", subtype="FILE_PATH", description="A plan file (.toml)"
    )
    add: BoolProperty(  # type: ignore[valid-type]
        name="Add to Existing Release",
        description="Add these jobs to the release if it exists (otherwise that is refused)",
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        return dialog(context, self, width=420, confirm_text="Plan Release")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(self, "release")
        layout.prop(self, "source")
        if self.source == "FOLDER":
            layout.prop(self, "folder")
        elif self.source == "PATTERN":
            layout.prop(self, "pattern")
        elif self.source == "PLAN_FILE":
            layout.prop(self, "plan_file")
        elif not bpy.data.filepath:
            layout.label(text="Save the file first", icon="ERROR")
        layout.prop(self, "add")

    def request(self, context: bpy.types.Context) -> tuple[Any, str]:
        """The core's PlanRequest for the dialog's choices, and a note for the report."""
        here = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path.home()
        release = self.release.strip() or None
        note = ""
        sources: list[str] = []
        plan_file = None
        cwd = here
        if self.source == "CURRENT_FILE":
            blend, note = saved_blend(context, "planning the current file")
            sources = [str(blend)]
        elif self.source == "FOLDER":
            if not self.folder.strip():
                raise BadInput("Choose the folder that holds the .blend files.")
            sources = [bpy.path.abspath(self.folder.strip())]
        elif self.source == "PATTERN":
            pattern = self.pattern.strip()
            if not pattern:
                raise BadInput("Give a pattern, like //shots/*/main.blend.")
            if pattern.startswith("//"):
                if not bpy.data.filepath:
                    raise BadInput(f"Save the file first: {pattern} is relative to its folder.")
                pattern = pattern[2:]
            sources = [pattern]
        else:
            if not self.plan_file.strip():
                raise BadInput("Choose the plan file (.toml).")
            plan_file = Path(bpy.path.abspath(self.plan_file.strip()))
            cwd = plan_file.parent
        return core_api().PlanRequest(release=release, sources=sources, plan_file=plan_file,
                                  add=self.add, cwd=cwd), note

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        request, note = self.request(context)

        def call(progress: Any) -> Any:
            return core_api().plan_release(settings, request, progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            submitted = sum(1 for o in result.jobs if o.ok)
            failed = listed(f"{o.name}: {o.message}" for o in result.jobs if not o.ok)
            return summary_report(
                result, f"{note}Planned release {result.release}: {submitted} job(s) on the farm",
                failed + [f"warning: {w}" for w in result.warnings], warn=bool(result.warnings))

        return Work(f"Planning release {request.release or '(new)'}", call, apply)

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return outcome.result.release if outcome.ok and outcome.result is not None else ""


class ReleaseOperator(FarmChanging):
    """An operator on one release: the selected one unless ``release`` is given."""

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        if not self.release:
            self.release = selected_release(context)
        return self.dialog(context)

    def dialog(self, context: bpy.types.Context) -> set[str]:
        return self.execute(context)

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return str(self.release)


class FARM_OT_harvest_release(ReleaseOperator, Operator):
    """Check a release's frames and deliver them, renamed, into the volume's dist folder"""

    bl_idname = "farm.harvest_release"
    bl_label = "Farm: Harvest Release"
    bl_options = {"REGISTER"}

    release: StringProperty(name="Release", description="The release to harvest")  # type: ignore[valid-type]
    template: StringProperty(  # type: ignore[valid-type]
        name="Naming",
        description="Name template for the delivered frames (empty: the release's own)",
    )
    partial: BoolProperty(  # type: ignore[valid-type]
        name="Partial", description="Deliver the jobs that are complete, skip the others"
    )

    def dialog(self, context: bpy.types.Context) -> set[str]:
        return dialog(context, self, width=400, confirm_text="Harvest")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "release")
        layout.prop(self, "template")
        layout.prop(self, "partial")

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        release = require_release(self.release)
        template = self.template.strip() or None
        partial = self.partial
        harvest = core_api().harvest_release

        def call(progress: Any) -> Any:
            return harvest(settings, release, template=template, partial=partial,
                           progress=progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            # The frames held back are on the status bar's line; the rest is the summary.
            headline = f"Harvested {release}: {result.delivered} frame(s) delivered" + (
                f". {result.held_message()}" if result.held else "")
            return summary_report(result, headline, summary=result.report(held=False),
                                  warn=bool(result.held or result.warnings))

        return Work(f"Harvesting {release}", call, apply)


class FARM_OT_archive_release(ReleaseOperator, Operator):
    """Pack a release (record, store, output and delivery) into one checked .tar.gz archive"""

    bl_idname = "farm.archive_release"
    bl_label = "Farm: Archive Release"
    bl_options = {"REGISTER"}

    release: StringProperty(name="Release", description="The release to archive")  # type: ignore[valid-type]
    force: BoolProperty(  # type: ignore[valid-type]
        name="Force", description="Archive even if the release is not fully harvested"
    )
    prune: BoolProperty(  # type: ignore[valid-type]
        name="Prune",
        description="After the archive is written and checked, remove the release's files "
                    "from the volume",
    )

    def dialog(self, context: bpy.types.Context) -> set[str]:
        return dialog(context, self, width=400, confirm_text="Archive")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "release")
        layout.prop(self, "force")
        layout.prop(self, "prune")
        if self.prune:
            layout.label(text="The release's files are removed once the archive checks out",
                         icon="ERROR")

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        release = require_release(self.release)
        force, prune = self.force, self.prune
        archive = core_api().archive_release

        def call(progress: Any) -> Any:
            return archive(settings, release, force=force, prune=prune, progress=progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            flagged = listed(f"warning: {f}" for f in result.flagged)
            return summary_report(result, after=flagged, warn=bool(flagged))

        return Work(f"Archiving {release}", call, apply)


class FARM_OT_replace_job(FarmChanging, Operator):
    """Replace a job of a release with a new revision: stop it, set its frames aside, pack its
    .blend again (or another file) and submit it anew"""

    bl_idname = "farm.replace_job"
    bl_label = "Farm: Replace Job"
    bl_options = {"REGISTER"}

    job: StringProperty(name="Job", description="The job's name in the release")  # type: ignore[valid-type]
    release: StringProperty(  # type: ignore[valid-type]
        name="Release", description="The job's release (empty: the only release that has it)"
    )
    from_file: StringProperty(  # type: ignore[valid-type]
        name="From File", subtype="FILE_PATH",
        description="Render this .blend instead (empty: the job's own source, as it is now)",
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        job = selected_job(context)
        if not self.job and job is not None:
            self.job = job.name
            self.release = farm_state(context).jobs_release
        return dialog(context, self, width=400, confirm_text="Replace")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "job")
        layout.prop(self, "release")
        layout.prop(self, "from_file")
        layout.label(text="The running job is cancelled and its frames set aside", icon="INFO")

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        job = self.job.strip()
        if not job:
            raise BadInput("Select a job in the Farm sidebar, or give its name.")
        release = self.release.strip() or None
        given = self.from_file.strip()
        from_file = Path(bpy.path.abspath(given)) if given else None
        replace = core_api().replace_job

        def call(progress: Any) -> Any:
            return replace(settings, job, release=release, from_file=from_file,
                           progress=progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            headline = (f"Replaced {result.job} of {result.release}: revision {result.revision}"
                        if result.ok else "")
            return summary_report(result, headline, [f"warning: {w}" for w in result.warnings],
                                  warn=bool(result.warnings))

        return Work(f"Replacing {job}", call, apply)

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return outcome.result.release if outcome.ok and outcome.result is not None else ""


FOLDER_ITEMS = [
    ("OUTPUT", "Output", "The release's render output (out/)", "FILE_FOLDER", 0),
    ("DELIVERY", "Delivery", "The release's delivered frames (dist/)", "PACKAGE", 1),
]


def open_path(path: str) -> set[str]:
    """Open a folder in the system's file browser (a function, so tests can replace it)."""
    return bpy.ops.wm.path_open(filepath=path)  # type: ignore[no-any-return]


class FARM_OT_open_folder(Operator):
    """Open the selected release's output or delivery folder in the file browser"""

    bl_idname = "farm.open_folder"
    bl_label = "Farm: Open Folder"
    bl_options = {"REGISTER"}

    kind: EnumProperty(name="Folder", items=FOLDER_ITEMS, default="OUTPUT")  # type: ignore[valid-type]
    release: StringProperty(  # type: ignore[valid-type]
        name="Release", description="The release (empty: the selected one)"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not len(farm_state(context).releases):
            cls.poll_message_set("No releases listed yet: press Refresh in the Farm sidebar")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        releases = farm_state(context).releases
        name = self.release.strip() or selected_release(context)
        item = releases.get(name) if name else None
        if item is None:
            self.report({"ERROR"}, f"Unknown release {name!r}; press Refresh in the Farm sidebar")
            return {"CANCELLED"}
        path = item.output_dir if self.kind == "OUTPUT" else item.delivery_dir
        if not path:
            self.report({"ERROR"}, f"The folders of {name} are not known yet; press Refresh")
            return {"CANCELLED"}
        if not os.path.isdir(path):
            what = "rendered" if self.kind == "OUTPUT" else "delivered (harvest it first)"
            self.report({"WARNING"}, f"Nothing {what} for {name} yet: {path} does not exist")
            return {"CANCELLED"}
        return open_path(path)


classes = (
    FARM_OT_plan_release,
    FARM_OT_replace_job,
    FARM_OT_harvest_release,
    FARM_OT_archive_release,
    FARM_OT_open_folder,
)
register, unregister = bpy.utils.register_classes_factory(classes)
