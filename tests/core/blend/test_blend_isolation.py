"""farm's reading, tracing and packing of .blend files change nothing other add-ons see.

Blender Asset Tracer (BAT) is shared with the official Flamenco add-on; farm uses its own
instance of BAT's modules (farm_addon/core/blend/bat.py), so BAT's classes and its cache of
open files stay as another add-on left them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import blender_asset_tracer
import pytest
from blender_asset_tracer import blendfile, trace

from farm_addon.core.blend.deps import trace_dependencies
from farm_addon.core.blend.info import read_blend_info
from farm_addon.core.blend.packing import pack_blend, source_fingerprint
from farm_addon.core.fs.volume import Volume


def test_farm_leaves_the_shared_bat_alone(
    blends: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = blends["linked"]
    library = source.parent.parent / "lib" / "props.blend"
    own_class = blendfile.BlendFile
    shared_modules = {name: module for name, module in sys.modules.items()
                      if name.split(".")[0] == "blender_asset_tracer"}
    # "Another add-on" has the source and its library open through BAT's cache.
    others = [blendfile.open_cached(source), blendfile.open_cached(library)]
    cached_before = dict(blendfile._cached_bfiles)

    def not_through_the_shared_bat(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("farm used the shared BAT's cache")

    monkeypatch.setattr(blendfile, "open_cached", not_through_the_shared_bat)
    monkeypatch.setattr(trace, "deps", not_through_the_shared_bat)
    try:
        assert read_blend_info(source).scene_names
        assert {dep.kind for dep in trace_dependencies(source)} >= {"library", "image"}
        volume = Volume.init(tmp_path / "volume", name="test")
        result = pack_blend(source, volume, volume.root / "store", "job")
        assert result.dependencies and not result.missing
        assert source_fingerprint(source) == result.fingerprint
        monkeypatch.undo()

        assert blendfile.BlendFile is own_class
        assert own_class.__module__ == "blender_asset_tracer.blendfile"
        assert sys.modules["blender_asset_tracer"] is blender_asset_tracer
        assert all(sys.modules[name] is module for name, module in shared_modules.items())
        assert blendfile._cached_bfiles == cached_before  # nothing of farm's left in it
        for other, path in zip(others, (source, library), strict=True):
            assert type(other) is own_class
            assert blendfile.open_cached(path, assert_cached=True) is other
            assert not other.fileobj.closed
            assert other.find_blocks_from_code(b"OB")  # still readable
    finally:
        for other in others:
            other.close()


def test_farms_bat_modules_refer_only_to_each_other() -> None:
    """Every module of farm's BAT instance uses farm's twins, never the shared modules."""
    from farm_addon.core.blend import bat

    prefix = bat.blendfile.__name__.rsplit(".", 1)[0]
    assert prefix.startswith("farm_addon.") and bat.blendfile is not blendfile
    private = {name: module for name, module in sys.modules.items()
               if name == prefix or name.startswith(prefix + ".")}
    assert {f"{prefix}.blendfile", f"{prefix}.trace", f"{prefix}.pack"} <= set(private)
    shared = [
        (name, attr) for name, module in private.items() for attr, value in vars(module).items()
        if str(value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__", ""))
        .split(".")[0] == "blender_asset_tracer"
    ]
    assert shared == []
    assert bat.blendfile.BlendFile is bat.LazyBlendFile
