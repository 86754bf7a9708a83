"""Real .blend files for tests and benchmarks, made by Blender (the `bpy` module) in a subprocess.

One subprocess makes any number of files (importing bpy takes about a second, making a small
file a few milliseconds). Each spec names a kind and a name; its files go under
``<base>/<name>/`` so that a test can copy that folder and keep every relative path intact::

    simple       <name>/<name>.blend                       cube, camera, light; Cycles, 1 sample
    textured     <name>/scene/<name>.blend                 + //textures/wood.png
                 <name>/scene/textures/wood.png              and //../shared/metal.png
                 <name>/shared/metal.png                     (outside the blend's folder)
    linked       <name>/scene/<name>.blend                 links the object LibCube from
                 <name>/lib/props.blend                      //../lib/props.blend, which uses
                 <name>/lib/textures/lib_tex.png             its own //textures/lib_tex.png
    multiscene   <name>/<name>.blend                       scenes Main, Alt (active), Preview
    large        <name>/<name>.blend                       a grid of a few million vertices

Options (all kinds): ``scene`` (name of the first scene), ``frames`` ([start, end, step]),
``resolution`` ([x, y]), ``format`` (Blender's file_format), ``compress`` (bool);
``large`` takes ``side`` (vertices along one edge of the grid).

    paths = make_blends(tmp_path, [{"kind": "simple", "name": "shot"}])
    paths["shot"]  # -> tmp_path / "shot" / "shot.blend"

:func:`standard_blends` makes the standard set once per directory and process (use it from
a session-scoped fixture); :func:`large_blend` makes the big benchmark file once per
cache folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STANDARD_SPECS: list[dict[str, Any]] = [
    {"kind": "simple", "name": "simple", "scene": "Shot", "frames": [1, 12, 1]},
    {"kind": "simple", "name": "simple_z", "scene": "Shot", "frames": [1, 12, 1], "compress": True},
    {"kind": "simple", "name": "exr_step", "scene": "Stepped", "frames": [3, 17, 2],
     "format": "OPEN_EXR", "resolution": [64, 48], "fps": [30, 1.001]},
    {"kind": "textured", "name": "textured"},
    {"kind": "textured", "name": "textured_z", "compress": True},
    {"kind": "linked", "name": "linked"},
    {"kind": "multiscene", "name": "multiscene"},
]

LARGE_SIDE = 1800  # 3.2 million vertices: about 200 MB

_standard: dict[Path, dict[str, Path]] = {}


def make_blends(
    base: Path, specs: Iterable[Mapping[str, Any]], timeout: float = 600
) -> dict[str, Path]:
    """Make the files of ``specs`` under ``base`` in one Blender subprocess; name -> main .blend."""
    base = Path(base).absolute()
    base.mkdir(parents=True, exist_ok=True)
    jobs = [{**spec, "root": str(base / spec["name"])} for spec in specs]
    if not jobs:
        return {}
    names = [job["name"] for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"spec names must be unique: {names}")
    result = subprocess.run(
        [sys.executable, __file__, json.dumps(jobs)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    made: dict[str, str] | None = None
    for line in result.stdout.splitlines():
        if line.startswith("BLENDGEN-RESULT "):
            made = json.loads(line[len("BLENDGEN-RESULT "):])
    if result.returncode != 0 or made is None:
        raise RuntimeError(
            f"Blender could not make the test files (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return {name: Path(path) for name, path in made.items()}


def standard_blends(base: Path) -> dict[str, Path]:
    """The standard set (:data:`STANDARD_SPECS`), made once per ``base`` in this process.

    Tests must not change these files; copy a kind's folder with :func:`copy_kind` first.
    """
    base = Path(base).absolute()
    if base not in _standard:
        _standard[base] = make_blends(base, STANDARD_SPECS)
    return _standard[base]


def copy_kind(blend: Path, dest: Path) -> Path:
    """Copy the folder of a generated file (see the layouts above) into ``dest``.

    Returns the path of the copied main .blend; relative paths inside stay valid.
    """
    blend = Path(blend)
    root = blend.parent.parent if blend.parent.name == "scene" else blend.parent
    target = Path(dest) / root.name
    shutil.copytree(root, target, symlinks=True)
    return target / blend.relative_to(root)


def large_blend(cache_dir: Path, side: int = LARGE_SIDE) -> Path:
    """A .blend of about 200 MB (a grid of ``side``² vertices), made once per ``cache_dir``."""
    path = Path(cache_dir) / f"large_{side}" / f"large_{side}.blend"
    if not path.is_file():
        spec = {"kind": "large", "name": f"large_{side}", "side": side}
        path = make_blends(Path(cache_dir), [spec])[spec["name"]]
    return path


def inspect_blends(paths: Iterable[Path], timeout: float = 300) -> dict[str, dict[str, Any]]:
    """Open each file in Blender and report what it found: path -> report.

    A report has ``images`` (filepath as stored, absolute path, whether the file exists and
    whether Blender loaded pixels), ``libraries`` (filepath, absolute path, exists),
    ``objects`` (name, library path or None, is_missing) and ``scenes``.
    """
    paths = [str(Path(path).absolute()) for path in paths]
    result = subprocess.run(
        [sys.executable, __file__, "--inspect", json.dumps(paths)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BLENDGEN-RESULT "):
            report: dict[str, dict[str, Any]] = json.loads(line[len("BLENDGEN-RESULT "):])
            return report
    raise RuntimeError(
        f"Blender could not inspect {paths} (exit {result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


# --- inside Blender ----------------------------------------------------------------------
# Everything below runs in the subprocess, where `bpy` is importable.


def _worker(jobs: list[dict[str, Any]]) -> dict[str, str]:  # pragma: no cover - subprocess
    import bpy

    def reset() -> Any:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups
        return bpy.context.scene

    def save(path: Path, compress: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=compress)

    def cube(name: str, size: float = 1.0) -> Any:
        s = size
        verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
        faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata(verts, [], faces)
        return bpy.data.objects.new(name, mesh)

    def setup_scene(scene: Any, job: Mapping[str, Any], name: str | None = None) -> None:
        scene.name = name or job.get("scene", "Scene")
        start, end, step = job.get("frames", [1, 10, 1])
        scene.frame_start, scene.frame_end, scene.frame_step = start, end, step
        render = scene.render
        render.resolution_x, render.resolution_y = job.get("resolution", [32, 24])
        render.resolution_percentage = 100
        fps, fps_base = job.get("fps", [24, 1.0])
        render.fps, render.fps_base = fps, fps_base
        render.image_settings.file_format = job.get("format", "PNG")
        render.filepath = "//render/"
        render.engine = "CYCLES"
        if hasattr(scene, "cycles"):
            scene.cycles.samples = 1
            scene.cycles.device = "CPU"
        camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        camera.location = (4.0, -4.0, 3.0)
        camera.rotation_euler = (1.1, 0.0, 0.785)
        light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "SUN"))
        light.location = (2.0, -2.0, 5.0)
        for obj in (camera, light):
            scene.collection.objects.link(obj)
        scene.camera = camera

    def write_png(path: Path, color: tuple[float, float, float]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = bpy.data.images.new(path.stem, 8, 8)
        image.pixels.foreach_set([*color, 1.0] * 64)
        image.filepath_raw = str(path)
        image.file_format = "PNG"
        image.save()
        bpy.data.images.remove(image)
        return path

    def textured_material(name: str, images: list[Path]) -> Any:
        material = bpy.data.materials.new(name)
        material.use_nodes = True
        nodes, links = material.node_tree.nodes, material.node_tree.links
        shader = nodes.get("Principled BSDF")
        for index, path in enumerate(images):
            image = bpy.data.images.load(str(path))
            image.filepath = bpy.path.relpath(str(path))  # relative to the saved blend
            node = nodes.new("ShaderNodeTexImage")
            node.image = image
            if index == 0 and shader is not None:
                links.new(node.outputs["Color"], shader.inputs["Base Color"])
        return material

    def simple(job: Mapping[str, Any], root: Path) -> Path:
        scene = reset()
        setup_scene(scene, job)
        scene.collection.objects.link(cube("Cube"))
        path = root / f"{job['name']}.blend"
        save(path, job.get("compress", False))
        return path

    def textured(job: Mapping[str, Any], root: Path) -> Path:
        scene = reset()
        setup_scene(scene, job)
        path = root / "scene" / f"{job['name']}.blend"
        save(path)  # so that images can be made relative to it
        wood = write_png(root / "scene" / "textures" / "wood.png", (0.6, 0.4, 0.2))
        metal = write_png(root / "shared" / "metal.png", (0.7, 0.7, 0.75))
        obj = cube("Cube")
        obj.data.materials.append(textured_material("Wood", [wood, metal]))
        scene.collection.objects.link(obj)
        save(path, job.get("compress", False))
        return path

    def linked(job: Mapping[str, Any], root: Path) -> Path:
        # The library: LibCube with its own texture.
        scene = reset()
        scene.name = "Library"
        library = root / "lib" / "props.blend"
        save(library)
        texture = write_png(root / "lib" / "textures" / "lib_tex.png", (0.2, 0.5, 0.2))
        obj = cube("LibCube", 0.5)
        obj.data.materials.append(textured_material("LibMaterial", [texture]))
        scene.collection.objects.link(obj)
        save(library)
        # The shot that links it.
        scene = reset()
        setup_scene(scene, job)
        path = root / "scene" / f"{job['name']}.blend"
        save(path)
        with bpy.data.libraries.load(str(library), link=True, relative=True) as (_src, dst):
            dst.objects = ["LibCube"]
        for linked_obj in dst.objects:
            scene.collection.objects.link(linked_obj)
        save(path, job.get("compress", False))
        return path

    def multiscene(job: Mapping[str, Any], root: Path) -> Path:
        scene = reset()
        setup_scene(scene, {**job, "frames": [1, 10, 1]}, "Main")
        scene.collection.objects.link(cube("Cube"))
        alt = bpy.data.scenes.new("Alt")
        setup_scene(alt, {**job, "frames": [5, 8, 1], "format": "OPEN_EXR",
                          "resolution": [48, 32]}, "Alt")
        alt.collection.objects.link(cube("AltCube"))
        preview = bpy.data.scenes.new("Preview")
        setup_scene(preview, {**job, "frames": [1, 3, 1], "format": "JPEG"}, "Preview")
        bpy.context.window.scene = alt
        path = root / f"{job['name']}.blend"
        save(path, job.get("compress", False))
        return path

    def large(job: Mapping[str, Any], root: Path) -> Path:
        import numpy as np

        scene = reset()
        setup_scene(scene, job)
        side = int(job.get("side", LARGE_SIDE))
        xs, ys = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
        coords = np.stack([xs.ravel(), ys.ravel(), np.zeros(side * side, np.float32)], axis=1)
        corner = (np.arange(side - 1)[None, :] + side * np.arange(side - 1)[:, None]).ravel()
        quads = np.stack([corner, corner + 1, corner + side + 1, corner + side], axis=1)
        mesh = bpy.data.meshes.new("Grid")
        mesh.vertices.add(side * side)
        mesh.vertices.foreach_set("co", coords.ravel())
        mesh.loops.add(quads.size)
        mesh.loops.foreach_set("vertex_index", quads.ravel().astype(np.int32))
        mesh.polygons.add(len(quads))
        mesh.polygons.foreach_set("loop_start", np.arange(0, quads.size, 4, dtype=np.int32))
        mesh.update(calc_edges=True)
        scene.collection.objects.link(bpy.data.objects.new("Grid", mesh))
        path = root / f"{job['name']}.blend"
        save(path, job.get("compress", False))
        return path

    makers = {"simple": simple, "textured": textured, "linked": linked,
              "multiscene": multiscene, "large": large}
    made = {}
    for job in jobs:
        root = Path(job["root"])
        if root.exists():
            shutil.rmtree(root)
        made[job["name"]] = str(makers[job["kind"]](job, root))
    return made


def _inspect(paths: list[str]) -> dict[str, Any]:  # pragma: no cover - subprocess
    import os

    import bpy

    reports = {}
    for path in paths:
        bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
        images = []
        for image in bpy.data.images:
            if image.source != "FILE":
                continue
            absolute = bpy.path.abspath(image.filepath, library=image.library)
            images.append({
                "name": image.name,
                "filepath": image.filepath,
                "abspath": os.path.normpath(absolute),
                "exists": os.path.isfile(absolute),
                "loaded": image.size[0] > 0,
                "library": image.library.filepath if image.library else None,
            })
        libraries = [{
            "filepath": lib.filepath,
            "abspath": os.path.normpath(bpy.path.abspath(lib.filepath)),
            "exists": os.path.isfile(bpy.path.abspath(lib.filepath)),
        } for lib in bpy.data.libraries]
        objects = [{
            "name": obj.name,
            "library": obj.library.filepath if obj.library else None,
            "is_missing": bool(getattr(obj, "is_missing", False)),
        } for obj in bpy.data.objects]
        reports[path] = {
            "images": images, "libraries": libraries, "objects": objects,
            "scenes": [scene.name for scene in bpy.data.scenes],
        }
    return reports


if __name__ == "__main__":  # pragma: no cover - the subprocess
    if sys.argv[1] == "--inspect":
        result = _inspect(json.loads(sys.argv[2]))
    else:
        result = _worker(json.loads(sys.argv[1]))
    print("BLENDGEN-RESULT " + json.dumps(result), flush=True)
