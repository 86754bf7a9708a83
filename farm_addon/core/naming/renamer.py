"""Renamer files: a Python file whose ``rename()`` names each frame. No `bpy` module use.

For naming no template can express: ``rename(release, job, frame, ext, meta, data)`` returns
the delivered name of one frame, and every name it returns is checked as a template's are.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import BadInput
from .frame import BoundNamer, FrameInfo
from .targets import path_problem


class Renamer:
    """A Python file with ``rename(release, job, frame, ext, meta, data) -> str``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.source = f"renamer {self.path}"
        self.uses_data = True
        self._fn = self._load()

    def __repr__(self) -> str:
        return f"Renamer({str(self.path)!r})"

    def _where(self, exc: BaseException) -> str:
        line = None
        target = str(self.path.resolve())
        for fr in traceback.extract_tb(exc.__traceback__):
            try:
                same = str(Path(fr.filename).resolve()) == target
            except (OSError, ValueError):
                same = False
            if same:
                line = fr.lineno
        return f"{self.path} line {line}" if line else str(self.path)

    def _load(self) -> Callable[..., Any]:
        if not self.path.is_file():
            raise BadInput(f"Renamer file {self.path} does not exist.")
        name = f"_farm_renamer_{abs(hash(str(self.path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise BadInput(f"Renamer file {self.path} cannot be loaded as Python (use a .py file).")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and typing look their module up here
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise BadInput(
                f"Renamer file {self.path} line {exc.lineno}: syntax error: {exc.msg}."
            ) from None
        except Exception as exc:
            raise BadInput(
                f"Renamer file {self._where(exc)}: loading it raised "
                f"{type(exc).__name__}: {exc}."
            ) from None
        finally:
            sys.modules.pop(name, None)
        fn = getattr(module, "rename", None)
        if not callable(fn):
            raise BadInput(
                f"Renamer file {self.path} has no function rename(release, job, frame, ext, "
                "meta, data) returning the delivered name."
            )
        return fn  # type: ignore[no-any-return]

    def bind(self, info: FrameInfo) -> BoundNamer:
        return _bind_renamer(self, info)

    def render(self, info: FrameInfo) -> str:
        try:
            result = self._fn(
                release=info.release, job=info.job, frame=info.frame, ext=info.ext,
                meta=dict(info.meta), data=info.data,
            )
        except Exception as exc:
            raise BadInput(
                f"Renamer file {self._where(exc)}: rename() raised {type(exc).__name__}: {exc} "
                f"for {info.label}."
            ) from None
        if not isinstance(result, str):
            raise BadInput(
                f"Renamer file {self.path}: rename() returned a {type(result).__name__} for "
                f"{info.label}; it must return the delivered name as a str."
            )
        problem = path_problem(result)
        if problem:
            raise BadInput(
                f"Renamer file {self.path}: rename() returned an unsafe name for {info.label}: "
                f"{result!r} ({problem})."
            )
        return result


def _bind_renamer(renamer: Renamer, info: FrameInfo) -> BoundNamer:
    def name(frame: int, data: Any) -> str:
        return renamer.render(FrameInfo(info.release, info.job, frame, info.ext,
                                        info.revision, info.meta, data, info.has_data))

    return name
