"""A stand-in for the ``blender`` executable, built on the bpy module.

Run as ``<python with bpy> blender_standin.py -b -y file.blend --scene S --render-output
/out/###### --render-format PNG --render-frame 1..3``. Arguments are handled in order, like
Blender does: a blend file is opened where it appears, later options act on it. Understood:

- ``-b``/``--background`` (always), ``-y``/``--enable-autoexec``, ``-Y``/``--disable-autoexec``
- a ``.blend`` path: open it (exit status 1 if that fails)
- ``-S``/``--scene NAME``, ``-E``/``--engine NAME``, ``-t``/``--threads N``
- ``-o``/``--render-output PATH``, ``-F``/``--render-format FORMAT``
- ``-s``/``--frame-start N``, ``-e``/``--frame-end N``
- ``-f``/``--render-frame A|A..B|A,B..C``, ``-a``/``--render-anim``
- ``--python-expr EXPR``, ``-P``/``--python FILE``, ``--python-exit-code N``
- ``--factory-startup``, ``--debug*``, ``--`` (stop reading arguments)

Frames are rendered with ``write_still`` and named like Blender names them (``#`` runs become the
frame number, extension added, existing frames skipped when ``use_overwrite`` is off); Blender
reports each as ``Saved: 'path'``.
Not part of the emulator package on purpose: it runs as a script, with only bpy.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class StandinError(Exception):
    """A fatal problem: reported on stderr, exit status 1."""


def parse_frames(spec: str) -> list[int]:
    """``7``, ``1..3`` and comma lists of those."""
    frames: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ".." in part:
                first, _, last = part.partition("..")
                frames.extend(range(int(first), int(last) + 1))
            else:
                frames.append(int(part))
        except ValueError:
            raise StandinError(f"invalid frame range {spec!r}") from None
    if not frames:
        raise StandinError(f"no frames in {spec!r}")
    return frames


class Standin:
    """Processes the command line in order, like Blender's argument handling."""

    def __init__(self, bpy: Any) -> None:
        self.bpy = bpy
        self.python_exit_code = 0
        self.file_loaded = False

    # Helpers ----------------------------------------------------------------------------------
    @property
    def scene(self) -> Any:
        return self.bpy.context.scene

    def _window(self) -> Any:
        window = self.bpy.context.window
        if window is None and self.bpy.context.window_manager.windows:
            window = self.bpy.context.window_manager.windows[0]
        return window

    def _run_python(self, source: str, filename: str) -> None:
        try:
            exec(compile(source, filename, "exec"), {"__name__": "__main__", "bpy": self.bpy})
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc()
            if self.python_exit_code:
                raise SystemExit(self.python_exit_code) from None

    # Actions ---------------------------------------------------------------------------------
    def open_file(self, path: str) -> None:
        if not Path(path).is_file():
            raise StandinError(f"Cannot read file \"{path}\": No such file or directory")
        try:
            self.bpy.ops.wm.open_mainfile(filepath=path)
        except RuntimeError as ex:
            raise StandinError(f"Cannot read file \"{path}\": {ex}") from None
        self.file_loaded = True

    def set_scene(self, name: str) -> None:
        scene = self.bpy.data.scenes.get(name)
        if scene is None:
            raise StandinError(f"Scene \"{name}\" not found")
        window = self._window()
        if window is not None:
            window.scene = scene
        else:
            self.bpy.context.screen.scene = scene

    def set_format(self, file_format: str) -> None:
        try:
            self.scene.render.image_settings.file_format = file_format
        except TypeError as ex:
            raise StandinError(f"Format \"{file_format}\" not supported: {ex}") from None

    def render_frames(self, frames: list[int]) -> None:
        scene = self.scene
        render = scene.render
        for frame in frames:
            scene.frame_set(frame)
            path = self.bpy.path.abspath(render.frame_path(frame=frame))
            if not render.use_overwrite and os.path.exists(path):
                print(f"skipping existing frame \"{path}\"", flush=True)
                continue
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if render.use_placeholder:
                Path(path).touch()
            # write_still saves to render.filepath as it is (no frame number substitution),
            # so point it at this frame's file; Blender then prints "Saved: '<path>'".
            pattern = render.filepath
            render.filepath = path
            try:
                self.bpy.ops.render.render(write_still=True, scene=scene.name)
            finally:
                render.filepath = pattern
            sys.stdout.flush()

    # Argument loop ---------------------------------------------------------------------------
    def run(self, args: list[str]) -> int:
        bpy = self.bpy
        with_value: dict[str, Callable[[str], None]] = {
            "-S": self.set_scene, "--scene": self.set_scene,
            "-o": lambda v: setattr(self.scene.render, "filepath", v),
            "--render-output": lambda v: setattr(self.scene.render, "filepath", v),
            "-F": self.set_format, "--render-format": self.set_format,
            "-E": lambda v: setattr(self.scene.render, "engine", v),
            "--engine": lambda v: setattr(self.scene.render, "engine", v),
            "-t": self._threads, "--threads": self._threads,
            "-s": lambda v: setattr(self.scene, "frame_start", int(v)),
            "--frame-start": lambda v: setattr(self.scene, "frame_start", int(v)),
            "-e": lambda v: setattr(self.scene, "frame_end", int(v)),
            "--frame-end": lambda v: setattr(self.scene, "frame_end", int(v)),
            "-f": lambda v: self.render_frames(parse_frames(v)),
            "--render-frame": lambda v: self.render_frames(parse_frames(v)),
            "--python-expr": lambda v: self._run_python(v, "<string>"),
            "-P": self._python_file, "--python": self._python_file,
            "--python-exit-code": self._exit_code,
        }
        flags: dict[str, Callable[[], None]] = {
            "-b": lambda: None, "--background": lambda: None,
            "--factory-startup": lambda: None,
            "-y": lambda: self._autoexec(True), "--enable-autoexec": lambda: self._autoexec(True),
            "-Y": lambda: self._autoexec(False),
            "--disable-autoexec": lambda: self._autoexec(False),
            "-a": self._render_anim, "--render-anim": self._render_anim,
        }
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                break
            if arg in flags:
                flags[arg]()
            elif arg in with_value:
                if i >= len(args):
                    raise StandinError(f"{arg} requires an argument")
                with_value[arg](args[i])
                i += 1
            elif arg.startswith("--debug"):
                continue
            elif arg.startswith("-"):
                raise StandinError(f"unknown argument {arg!r}")
            else:
                self.open_file(arg)
        del bpy
        return 0

    def _threads(self, value: str) -> None:
        threads = int(value)
        self.scene.render.threads_mode = "FIXED" if threads else "AUTO"
        if threads:
            self.scene.render.threads = threads

    def _autoexec(self, enabled: bool) -> None:
        self.bpy.context.preferences.filepaths.use_scripts_auto_execute = enabled

    def _python_file(self, path: str) -> None:
        self._run_python(Path(path).read_text(encoding="utf-8"), path)

    def _exit_code(self, value: str) -> None:
        self.python_exit_code = int(value)

    def _render_anim(self) -> None:
        scene = self.scene
        self.render_frames(list(range(scene.frame_start, scene.frame_end + 1, scene.frame_step)))


def main(argv: list[str]) -> int:
    import bpy  # the bpy module from PyPI; slow to import, so only here

    try:
        return Standin(bpy).run(argv)
    except StandinError as ex:
        print(f"Error: {ex}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
