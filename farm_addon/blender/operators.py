# SPDX-License-Identifier: GPL-3.0-or-later
"""The Farm operators. Each one gathers its input on the UI thread, names the core function
to call with which arguments, and says how its result lands in ``WindowManager.farm``; the
runner (``runner.FarmOperator``) does the rest: a worker thread and a modal timer for people,
a blocking run for scripts. The class docstring is the tooltip; F3 finds them as "Farm: ...".

Unsaved files: seeding or planning the current file needs it on disk, because the farm renders
the saved .blend. A file that was never saved is refused ("Save the file first: ..."); a saved
file with unsaved changes is saved first (as Flamenco's own add-on does), so the farm renders
what the artist sees, and the report says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy.types import Operator

from ..core.errors import BadInput, FarmError
from ..core.settings import Settings
from . import runner
from .fetch import (
    core_api,
    farm_settings,
    farm_state,
    preview_work,
    refresh_work,
    require_release,
    selected_job,
    selected_release,
    start_refresh,
)
from .props import ANY_TAG
from .runner import FarmOperator, Outcome, Work

_DIALOG_KEYWORDS = {
    p.identifier
    for p in bpy.types.WindowManager.bl_rna.functions["invoke_props_dialog"].parameters
}


def dialog(context: bpy.types.Context, operator: Any, width: int = 400, title: str = "",
           confirm_text: str = "") -> set[str]:
    """``invoke_props_dialog`` with a title and an OK button text where Blender has them."""
    extra = {k: v for k, v in (("title", title), ("confirm_text", confirm_text))
             if v and k in _DIALOG_KEYWORDS}
    return context.window_manager.invoke_props_dialog(  # type: ignore[no-any-return]
        operator, width=width, **extra
    )


# --- Unsaved files --------------------------------------------------------------------------


def saved_blend(context: bpy.types.Context, doing: str) -> tuple[Path, str]:
    """The current file on disk, saved first if it has unsaved changes: ``(path, note)``.

    Refuses a file that was never saved: there is nothing on disk for the farm to render.
    """
    if not bpy.data.filepath:
        raise BadInput(
            f"Save the file first: {doing} sends the saved .blend to the farm, and this file "
            "has never been saved (File > Save As)."
        )
    path = Path(bpy.data.filepath)
    note = ""
    if bpy.data.is_dirty:
        result = bpy.ops.wm.save_mainfile()
        if result != {"FINISHED"}:
            raise FarmError(f"Could not save {path.name} before {doing}; save it, then try again.")
        note = f"Saved {path.name} first. "
    return path, note


# --- The operators ---------------------------------------------------------------------------


class FarmChanging(FarmOperator):
    """An operator that changes the farm: refresh the sidebar when a person ran it."""

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return ""

    def done(self, context: bpy.types.Context, outcome: Outcome) -> None:
        if self.interactive and not bpy.app.background and not outcome.cancelled:
            start_refresh(context, self.refresh_after(context, outcome))


class FARM_OT_refresh(FarmOperator, Operator):
    """Ask the Manager and the volume for the farm's state: version, workers, releases, jobs"""

    bl_idname = "farm.refresh"
    bl_label = "Farm: Refresh"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        return refresh_work(context)


class FARM_OT_test_connection(FarmOperator, Operator):
    """Check that the Manager in the preferences answers; report its version and farm status"""

    bl_idname = "farm.test_connection"
    bl_label = "Farm: Test Connection"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)

        def call(progress: Any) -> tuple[Any, str, list[Any]]:
            from ..core.flamenco import FlamencoClient

            with FlamencoClient(settings.manager_url, retries=1) as client:
                handshake = client.handshake()
                status = client.farm_status().status
                workers = client.workers()
            return handshake, status, workers

        def apply(context: bpy.types.Context, result: tuple[Any, str, list[Any]]) -> Any:
            handshake, status, workers = result
            state = farm_state(context)
            online = sum(1 for w in workers if w.status not in ("offline", "error"))
            state.connection = ("CONNECTED" if handshake.compatible and not handshake.message
                                else "WARNING" if handshake.compatible else "FAILED")
            state.manager_url = settings.manager_url
            state.manager_version = handshake.version.version
            state.verdict = handshake.message
            state.farm_status = status
            state.workers_online = online
            state.workers_total = len(workers)
            text = (f"Flamenco Manager {handshake.version.version} at {settings.manager_url}: "
                    f"farm {status}, {online} of {len(workers)} workers online")
            if not handshake.compatible:
                return ("ERROR", f"{text}. {handshake.message}")
            return ("WARNING", f"{text}. {handshake.message}") if handshake.message else text

        def fail(context: bpy.types.Context, error: BaseException) -> None:
            farm_state(context).connection = "FAILED"

        return Work("Testing the connection", call, apply, fail, foreground=False,
                    key="connection")


class FARM_OT_seed_job(FarmChanging, Operator):
    """Send the current file to the farm as one ad-hoc job (saved first if it has changes)"""

    bl_idname = "farm.seed_job"
    bl_label = "Farm: Seed Job"
    bl_options = {"REGISTER"}

    def work(self, context: bpy.types.Context) -> Work:
        from ..core.fs.names import safe_name

        props = context.scene.farm
        settings = farm_settings(context)
        blend, note = saved_blend(context, "seeding")
        job_name = props.seed_job_name.strip() or safe_name(blend.stem)
        frames = props.seed_frames.strip() or None
        chunk = props.seed_chunk_size if props.seed_override_chunk_size else None
        priority = props.seed_priority if props.seed_override_priority else None
        tag = props.seed_worker_tag
        tag = None if tag in ("", ANY_TAG) else tag
        scene = context.scene.name

        def call(progress: Any) -> Any:
            return core_api().seed_job(settings, blend, job_name, frames=frames, chunk_size=chunk,
                                   priority=priority, worker_tag=tag, scene=scene,
                                   progress=progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            text = (f"{note}Seeded {result.job} (frames {result.frames}) as job "
                    f"{result.job_id[:8]}; frames go to {result.output_dir}")
            if result.moved_aside:
                text += f"; earlier frames moved to {result.moved_aside}"
            if result.warnings:
                return ("WARNING", text + ". " + " ".join(result.warnings))
            return text

        return Work(f"Seeding {job_name}", call, apply)


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
            failed = [o for o in result.jobs if not o.ok]
            submitted = len(result.jobs) - len(failed)
            text = f"{note}Planned release {result.release}: {submitted} job(s) on the farm"
            if result.resumed:
                text += " (finished an interrupted plan)"
            if failed:
                lines = "; ".join(f"{o.name}: {o.message}" for o in failed[:5])
                return ("ERROR", f"{text}, {len(failed)} failed: {lines}")
            if result.warnings:
                return ("WARNING", f"{text}. " + " ".join(result.warnings))
            return text

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
            text = f"Harvested {release}: {result.delivered} frame(s) delivered to {result.dist}"
            if result.already:
                text += f" ({result.already} already there)"
            if result.skipped:
                text += f"; skipped {', '.join(j.name for j in result.skipped[:5])}"
            notes = [result.held_message()] if result.held else []
            notes += result.warnings
            return ("WARNING", f"{text}. " + " ".join(notes)) if notes else text

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

        def apply(context: bpy.types.Context, result: Any) -> str:
            size = result.bytes_out / 1e6
            text = f"Archived {release} to {result.path} ({result.files} files, {size:.1f} MB)"
            if result.pruned:
                text += f"; removed {len(result.pruned)} item(s) from the volume"
            return text

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
            if not result.ok:
                return ("ERROR", f"Replacing {result.job} failed: {result.message}")
            text = (f"Replaced {result.job} of {result.release}: revision {result.revision}"
                    + (f", job {result.job_id[:8]}" if result.job_id else ""))
            if result.moved_aside:
                text += f"; earlier frames in {result.moved_aside}"
            return ("WARNING", f"{text}. " + " ".join(result.warnings)) if result.warnings else text

        return Work(f"Replacing {job}", call, apply)

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return outcome.result.release if outcome.ok and outcome.result is not None else ""


def _kill_summary(outcomes: list[Any]) -> Any:
    requested = [o for o in outcomes if o.outcome == "cancel requested"]
    skipped = [o for o in outcomes if o.outcome == "skipped"]
    failed = [o for o in outcomes if not o.ok]
    text = f"Cancel requested for {len(requested)} job(s)"
    if skipped:
        text += f", {len(skipped)} skipped (already finished)"
    if failed:
        why = "; ".join(f"{o.name}: {o.message}" for o in failed[:5])
        return ("ERROR", f"{text}, {len(failed)} failed: {why}")
    return text


class FARM_OT_kill_jobs(FarmChanging, Operator):
    """Cancel the jobs a query matches; the matching jobs are listed before anything is
    cancelled"""

    bl_idname = "farm.kill_jobs"
    bl_label = "Farm: Kill Jobs"
    bl_options = {"REGISTER"}

    query: StringProperty(  # type: ignore[valid-type]
        name="Query",
        description="Job name glob (chair-*, * for all), status:active,queued, release:GLOB, "
                    "meta.KEY:GLOB, id:PREFIX; all terms must match",
    )
    release: StringProperty(  # type: ignore[valid-type]
        name="Release", description="Only jobs of this release (empty: any job on the Manager)"
    )
    confirmed: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        if not self.confirmed:
            return dialog(context, self, width=420, title="Kill Jobs", confirm_text="Find Jobs")
        count = len(farm_state(context).matches)
        return dialog(context, self, width=480, title=f"Kill {count} Job(s)?",
                      confirm_text="Kill Jobs")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        if not self.confirmed:
            layout.use_property_split = True
            layout.prop(self, "query")
            layout.prop(self, "release")
            col = layout.column(align=True)
            col.scale_y = 0.8
            for line in ("chair-*  or  *  (every job)", "status:active,queued   release:spring-*",
                         "meta.object:chair   id:3f2a"):
                col.label(text=line)
            return
        matches = farm_state(context).matches
        layout.label(text=f"Cancel these jobs (query {self.query!r})?", icon="ERROR")
        col = layout.column(align=True)
        for item in list(matches)[:15]:
            row = col.row()
            row.label(text=item.name)
            row.label(text=item.status)
            row.label(text=item.release or "-")
        if len(matches) > 15:
            col.label(text=f"... and {len(matches) - 15} more")

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        query = self.query.strip()
        release = self.release.strip() or None
        if self.interactive and not self.confirmed:
            return self._match_work(settings, query, release)

        # After the confirmation dialog: exactly the jobs the person saw, no new ones.
        only = ({m.job_id for m in farm_state(context).matches} if self.confirmed else None)

        def call(progress: Any) -> Any:
            return core_api().kill_jobs(settings, query, release, progress=progress,
                                        only_ids=only)

        def apply(context: bpy.types.Context, outcomes: list[Any]) -> Any:
            farm_state(context).matches.clear()
            return _kill_summary(outcomes)

        return Work(f"Killing jobs matching {query!r}", call, apply)

    def _match_work(self, settings: Settings, query: str, release: str | None) -> Work:
        def call(progress: Any) -> Any:
            return core_api().match_jobs(settings, query, release)

        def apply(context: bpy.types.Context, jobs: list[Any]) -> Any:
            state = farm_state(context)
            state.matches.clear()
            state.matches_query = query
            for job in jobs:
                item = state.matches.add()
                meta = job.metadata or {}
                item.name = meta.get("farm.job") or job.name
                item.status = job.status
                item.release = meta.get("farm.release", "")
                item.job_id = job.id
            if not jobs:
                return ("WARNING", f"No job matches {query!r}; nothing to kill")
            return f"{len(jobs)} job(s) match {query!r}"

        return Work(f"Finding jobs matching {query!r}", call, apply)

    def done(self, context: bpy.types.Context, outcome: Outcome) -> None:
        if self.interactive and not self.confirmed:
            if outcome.ok and len(farm_state(context).matches) and not bpy.app.background:
                bpy.ops.farm.kill_jobs("INVOKE_DEFAULT", query=self.query,
                                       release=self.release, confirmed=True)
            return
        super().done(context, outcome)


class FARM_OT_slash_and_burn(FarmChanging, Operator):
    """Reset the farm: cancel and delete every job on the Manager and empty the volume's quick
    folder. Asks first, naming everything that will be lost"""

    bl_idname = "farm.slash_and_burn"
    bl_label = "Farm: Slash and Burn"
    bl_options = {"REGISTER"}

    include_releases: BoolProperty(  # type: ignore[valid-type]
        name="Releases", description="Also delete every release (records, stores, frames)"
    )
    include_dist: BoolProperty(  # type: ignore[valid-type]
        name="Deliveries", description="Also delete the delivered frames (dist)"
    )
    include_archives: BoolProperty(  # type: ignore[valid-type]
        name="Archives", description="Also delete the archives"
    )
    confirmed: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def include(self) -> tuple[str, ...]:
        return tuple(name for name, on in (("releases", self.include_releases),
                                           ("dist", self.include_dist),
                                           ("archives", self.include_archives)) if on)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        if not self.confirmed:
            return dialog(context, self, width=420, title="Slash and Burn",
                          confirm_text="Show What Will Be Lost")
        return dialog(context, self, width=520, title="Slash and Burn: this cannot be undone",
                      confirm_text="Delete Everything Listed")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        if not self.confirmed:
            layout.label(text="Every job on the Manager is cancelled and deleted,")
            layout.label(text="and the volume's quick folder emptied. Also delete:")
            row = layout.row()
            row.prop(self, "include_releases")
            row.prop(self, "include_dist")
            row.prop(self, "include_archives")
            return
        col = layout.column(align=True)
        for n, line in enumerate(farm_state(context).reset_summary.splitlines()):
            col.label(text=line.strip(), icon="ERROR" if n == 0 else "NONE")

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)
        include = self.include()
        api = core_api()
        if self.interactive and not self.confirmed:
            def plan(progress: Any) -> Any:
                return api.slash_and_burn_plan(settings, include)

            def show(context: bpy.types.Context, result: Any) -> str:
                state = farm_state(context)
                state.reset_summary = result.describe()
                state.reset_jobs = len(result.jobs)
                return (f"Slash and burn would delete {len(result.jobs)} job(s) and "
                        f"{len(result.paths)} item(s) on the volume")

            return Work("Listing what slash and burn would delete", plan, show)

        def call(progress: Any) -> Any:
            return api.slash_and_burn(settings, include, progress=progress)

        def apply(context: bpy.types.Context, report: Any) -> Any:
            state = farm_state(context)
            state.reset_summary = ""
            text = (f"Slash and burn: deleted {len(report.deleted)} job(s), removed "
                    f"{len(report.removed)} item(s) from the volume")
            if report.failed:
                why = "; ".join(f"{name}: {msg}" for name, msg in report.failed[:5])
                return ("ERROR", f"{text}; {len(report.failed)} failed: {why}")
            return text

        return Work("Slash and burn", call, apply)

    def done(self, context: bpy.types.Context, outcome: Outcome) -> None:
        if self.interactive and not self.confirmed:
            if outcome.ok and not bpy.app.background:
                bpy.ops.farm.slash_and_burn(
                    "INVOKE_DEFAULT", include_releases=self.include_releases,
                    include_dist=self.include_dist, include_archives=self.include_archives,
                    confirmed=True,
                )
            return
        super().done(context, outcome)


class FARM_OT_refresh_preview(FarmOperator, Operator):
    """Fetch the farm's last rendered image of the selected job (of any job if none is
    selected)"""

    bl_idname = "farm.refresh_preview"
    bl_label = "Farm: Refresh Preview"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        return preview_work(context)


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


class FARM_OT_cancel(Operator):
    """Cancel the running Farm operation (same as pressing Esc while it runs)"""

    bl_idname = "farm.cancel"
    bl_label = "Farm: Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runner.foreground_job() is None:
            cls.poll_message_set("No Farm operation is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = runner.foreground_job()
        if job is None:
            return {"CANCELLED"}
        job.cancel()
        self.report({"INFO"}, f"Cancelling: {job.work.title}")
        return {"FINISHED"}


classes = (
    FARM_OT_refresh,
    FARM_OT_test_connection,
    FARM_OT_seed_job,
    FARM_OT_plan_release,
    FARM_OT_replace_job,
    FARM_OT_harvest_release,
    FARM_OT_archive_release,
    FARM_OT_kill_jobs,
    FARM_OT_slash_and_burn,
    FARM_OT_refresh_preview,
    FARM_OT_open_folder,
    FARM_OT_cancel,
)
register, unregister = bpy.utils.register_classes_factory(classes)
