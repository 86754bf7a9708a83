# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm-wide operators: Kill Jobs (by query) and Slash and Burn (reset the farm).

Both ask first: the first run lists what would be cancelled or deleted, and a second dialog
shows that list; only its OK does the work, on exactly what was shown (the jobs listed in
``WindowManager.farm.matches``; the reset plan kept here, in :data:`_shown_plans`). Both call
the core facade with the arguments the CLI's ``farm kill`` and ``farm slash-and-burn`` use.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy.types import Operator

from ...core.errors import BadInput
from ...core.settings import Settings
from ..common import core_api, dialog, farm_settings, farm_state
from ..farm.ops import FarmChanging
from ..work import Outcome, Work, listed, summary_report

#: The reset plans shown in the confirmation dialog, by what they include: the confirmed run
#: deletes exactly that plan (a Python object, which ``WindowManager.farm`` cannot hold).
_shown_plans: dict[tuple[str, ...], Any] = {}


def _kill_report(outcomes: Any) -> Any:
    """The kill's own summary, after the status bar's line and the jobs that failed."""
    requested = sum(1 for o in outcomes if o.outcome == "cancel requested")
    failed = listed(f"{o.name}: {o.message}" for o in outcomes if not o.ok)
    return summary_report(outcomes, f"Cancel requested for {requested} job(s)", failed)


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
            return _kill_report(outcomes)

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
                _shown_plans.clear()
                _shown_plans[include] = result
                state.reset_summary = result.describe()
                state.reset_jobs = len(result.jobs)
                return (f"Slash and burn would delete {len(result.jobs)} job(s) and "
                        f"{len(result.paths)} item(s) on the volume")

            return Work("Listing what slash and burn would delete", plan, show)

        # After the confirmation dialog: exactly what the person saw (as the CLI does).
        shown = _shown_plans.pop(include, None) if self.confirmed else None
        if self.confirmed and shown is None:
            raise BadInput("Nothing was listed to confirm: run Slash and Burn again to see what "
                           "it would delete.")

        def call(progress: Any) -> Any:
            return api.slash_and_burn(settings, include, progress=progress, plan=shown)

        def apply(context: bpy.types.Context, report: Any) -> Any:
            state = farm_state(context)
            state.reset_summary = ""
            failed = listed(f"{name}: {why}" for name, why in report.failed)
            return summary_report(report, f"Slash and burn: deleted {len(report.deleted)} "
                                  "job(s)", after=failed)

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


classes = (
    FARM_OT_kill_jobs,
    FARM_OT_slash_and_burn,
)
register, unregister = bpy.utils.register_classes_factory(classes)
