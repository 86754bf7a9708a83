"""Job types and the job compiler: what the Manager does between "submit" and "tasks exist".

Reimplements the behaviour of Flamenco's built-in job compiler scripts ``simple-blender-render``
and ``echo-sleep-test`` in Python (settings, defaults, task names, commands, dependencies).
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .frames import FrameRangeError, frame_chunks, frame_count
from .versions import ManagerVersion


class CompileError(Exception):
    """The job compiler refused the job (the Manager answers 400)."""


class JobTypeUnknown(CompileError):
    """No job type with that name."""


class EtagMismatch(Exception):
    """The submitted ``type_etag`` is not the job type's current etag (the Manager answers 412)."""


def _setting(key: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "type": type_, **extra}


SIMPLE_BLENDER_RENDER: dict[str, Any] = {
    "name": "simple-blender-render",
    "label": "Simple Blender Render",
    "description": "Render a sequence of frames, and create a preview video file",
    "settings": [
        _setting("frames", "string", required=True,
                 eval="f'{C.scene.frame_start}-{C.scene.frame_end}'",
                 evalInfo={"showLinkButton": True, "description": "Scene frame range"},
                 description="Frame range to render. Examples: '47', '1-30', '3, 5-10, 47-327'"),
        _setting("chunk_size", "int32", default=1, visible="submission",
                 description="Number of frames to render in one Blender render task"),
        _setting("render_output_root", "string", subtype="dir_path", required=True,
                 visible="submission",
                 description="Base directory of where render output is stored. "
                             "Will have some job-specific parts appended to it"),
        _setting("add_path_components", "int32", required=True, default=0,
                 propargs={"min": 0, "max": 32}, visible="submission",
                 description="Number of path components of the current blend file to use in "
                             "the render output path"),
        _setting("render_output_path", "string", subtype="file_path", editable=False,
                 eval="str(Path(abspath(settings.render_output_root), "
                      "last_n_dir_parts(settings.add_path_components), jobname, "
                      "'{timestamp}', '######'))",
                 description="Final file path of where render output will be saved"),
        _setting("blendfile", "string", required=True, visible="web",
                 description="Path of the Blend file to render"),
        _setting("fps", "float", eval="C.scene.render.fps / C.scene.render.fps_base",
                 visible="hidden"),
        _setting("format", "string", required=True,
                 eval="C.scene.render.image_settings.file_format", visible="web"),
        _setting("image_file_extension", "string", required=True,
                 eval="C.scene.render.file_extension", visible="hidden",
                 description="File extension used when rendering images"),
        _setting("has_previews", "bool", required=False,
                 eval="C.scene.render.image_settings.use_preview", visible="hidden",
                 description="Whether Blender will render preview images."),
        _setting("scene", "string", required=True, eval="C.scene.name", visible="web",
                 description="Name of the scene to render."),
    ],
}

ECHO_SLEEP_TEST: dict[str, Any] = {
    "name": "echo-sleep-test",
    "label": "Echo Sleep Test",
    "settings": [
        _setting("message", "string", required=True),
        _setting("sleep_duration_seconds", "int32", default=1),
        _setting("sleep_repeats", "int32", default=1),
    ],
}

JOB_TYPES: dict[str, dict[str, Any]] = {
    jt["name"]: jt for jt in (ECHO_SLEEP_TEST, SIMPLE_BLENDER_RENDER)
}

VIDEO_FORMATS = frozenset({"FFMPEG", "AVI_RAW", "AVI_JPEG"})
FFMPEG_INCOMPATIBLE_FORMATS = frozenset({"EXR", "MULTILAYER", "OPEN_EXR", "OPEN_EXR_MULTILAYER"})
RENDER_SETTINGS_EXPR = ("import bpy; r = bpy.context.scene.render; r.use_file_extension = True; "
                        "r.use_overwrite = False; r.use_placeholder = False")


def job_type_etag(job_type: Mapping[str, Any]) -> str:
    """SHA-1 of the job type's JSON (without its etag)."""
    data = {k: v for k, v in job_type.items() if k != "etag"}
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(encoded).hexdigest()


def available_job_type(name: str) -> dict[str, Any]:
    """The ``AvailableJobType`` JSON of one job type; raise JobTypeUnknown."""
    try:
        job_type = copy.deepcopy(JOB_TYPES[name])
    except KeyError:
        raise JobTypeUnknown(f"job type {name!r} is not known") from None
    job_type["etag"] = job_type_etag(job_type)
    return job_type


def available_job_types() -> list[dict[str, Any]]:
    return [available_job_type(name) for name in sorted(JOB_TYPES)]


@dataclass
class AuthoredTask:
    """A task as the compiler makes it, before the Manager stores it."""

    name: str
    task_type: str
    commands: list[dict[str, Any]]
    depends_on: list[int] = field(default_factory=list)  # indices of earlier tasks
    priority: int = 50

    @property
    def steps_total(self) -> int:
        return sum(max(1, int(c.get("total_step_count") or 0)) for c in self.commands)


@dataclass
class CompiledJob:
    settings: dict[str, Any]
    tasks: list[AuthoredTask]


def _command(name: str, parameters: dict[str, Any], total_step_count: int = 0) -> dict[str, Any]:
    return {"name": name, "parameters": parameters, "total_step_count": total_step_count}


_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "string": (str,), "int32": (int,), "float": (int, float), "bool": (bool,),
}


def _prepare_settings(job_type: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Apply defaults, then check required settings are there and have the declared type."""
    settings = dict(given)
    for spec in job_type["settings"]:
        key = spec["key"]
        if key not in settings and "default" in spec:
            settings[key] = spec["default"]
        if key not in settings:
            if spec.get("required"):
                raise CompileError(f'setting "{key}" is required')
            continue
        value = settings[key]
        allowed = _TYPE_CHECKS[spec["type"]]
        wrong_bool = isinstance(value, bool) and spec["type"] != "bool"
        if not isinstance(value, allowed) or wrong_bool:
            raise CompileError(f'setting "{key}" should be of type {spec["type"]}, '
                               f"not {type(value).__name__}")
    return settings


def _slashed(path: str) -> str:
    return path.replace("\\", "/")


def format_timestamp_local(moment: datetime) -> str:
    """How the job compiler writes ``{timestamp}``: local time, ``2006-01-02_150405``."""
    return moment.astimezone().strftime("%Y-%m-%d_%H%M%S")


def _render_output_path(settings: Mapping[str, Any], created: datetime) -> str:
    path = settings.get("render_output_path")
    if not path:
        raise CompileError("no render_output_path setting!")

    def field_value(match: re.Match[str]) -> str:
        if match.group(1) == "timestamp":
            return format_timestamp_local(created)
        return match.group(0)

    return re.sub(r"{([^}]+)}", field_value, str(path))


def _compile_simple_blender_render(settings: dict[str, Any], created: datetime,
                                   version: ManagerVersion) -> list[AuthoredTask]:
    if settings.get("format") in VIDEO_FORMATS:
        raise CompileError(f'This job type only renders images, and not "{settings["format"]}"')
    render_output = _render_output_path(settings, created)
    settings["render_output_path"] = render_output
    render_dir = posixpath.dirname(_slashed(render_output))
    output_arg = posixpath.join(render_dir, posixpath.basename(_slashed(render_output)))
    try:
        chunks = frame_chunks(str(settings["frames"]), int(settings["chunk_size"]))
    except FrameRangeError as ex:
        raise CompileError(str(ex)) from None

    base_args: list[str] = ["--scene", settings["scene"]] if settings.get("scene") else []
    if version.render_python_expr:
        base_args += ["--python-expr", RENDER_SETTINGS_EXPR]
    tasks = []
    for chunk in chunks:
        params = {
            "exe": "{blender}",
            "exeArgs": "{blenderArgs}",
            "argsBefore": [],
            "blendfile": settings["blendfile"],
            "args": [*base_args,
                     "--render-output", output_arg,
                     "--render-format", settings["format"],
                     "--render-frame", chunk.replace("-", "..")],
        }
        command = _command("blender-render", params, frame_count(chunk))
        tasks.append(AuthoredTask(f"render-{chunk}", "blender", [command]))

    video = _video_task(settings, render_dir)
    if video is not None:
        video.depends_on = list(range(len(tasks)))
        tasks.append(video)
    return tasks


def _video_task(settings: Mapping[str, Any], render_dir: str) -> AuthoredTask | None:
    needs_previews = settings.get("format") in FFMPEG_INCOMPATIBLE_FORMATS
    if needs_previews and not settings.get("has_previews"):
        return None
    fps = settings.get("fps")
    if not fps:
        return None
    frames = str(settings["frames"])
    if "," in frames:
        singles = frame_chunks(frames, 1)
        frames = f"{singles[0]}-{singles[-1]}"
    stem = posixpath.splitext(posixpath.basename(_slashed(str(settings["blendfile"]))))[0]
    stem = stem.replace(".flamenco", "", 1)
    extension = ".jpg" if needs_previews else settings.get("image_file_extension", "")
    params = {
        "exe": "ffmpeg",
        "fps": fps,
        "inputGlob": posixpath.join(render_dir, f"*{extension}"),
        "outputFile": posixpath.join(render_dir, f"{stem}-{frames}.mp4"),
        "args": ["-c:v", "h264", "-crf", "20", "-g", "18",
                 "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
                 "-r", fps, "-y"],
    }
    return AuthoredTask("preview-video", "ffmpeg", [_command("frames-to-video", params)])


def _compile_echo_sleep_test(settings: dict[str, Any]) -> list[AuthoredTask]:
    tasks = [AuthoredTask("echo", "misc", [_command("echo", {"message": settings["message"]})])]
    for _ in range(int(settings["sleep_repeats"])):
        sleep = _command("sleep", {"duration_in_seconds": settings["sleep_duration_seconds"]})
        tasks.append(AuthoredTask("sleep", "misc", [sleep], depends_on=[0]))
    return tasks


def compile_job(job_type_name: str, settings: Mapping[str, Any] | None, created: datetime,
                version: ManagerVersion, type_etag: str | None = None) -> CompiledJob:
    """Compile a submitted job into tasks, or raise CompileError / EtagMismatch."""
    job_type = available_job_type(job_type_name)
    if type_etag and type_etag != job_type["etag"]:
        raise EtagMismatch("rejecting job because its settings are outdated, "
                           "refresh the job type")
    prepared = _prepare_settings(job_type, settings or {})
    if job_type_name == "simple-blender-render":
        tasks = _compile_simple_blender_render(prepared, created, version)
    else:
        tasks = _compile_echo_sleep_test(prepared)
    return CompiledJob(prepared, tasks)
