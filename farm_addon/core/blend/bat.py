"""farm's own instance of Blender Asset Tracer (BAT), with faster DNA reading. No `bpy` module use.

BAT keeps state for the whole process: a cache of open blend files (``blendfile.open_cached``,
used by its tracer and packer; ``close_all_cached`` empties it) and the ``BlendFile`` class
that cache instantiates. BAT is shared with the official Flamenco add-on, so farm must neither
swap that class nor close files another add-on has open. BAT offers no seam to hand its
tracer or packer other file objects (``trace.deps`` makes its own ``BlockIterator``; the
packer's path rewriting and ``BlendFile.close``/``copy_and_rebind`` reach the cache directly),
so farm loads a private, separate instance of BAT's modules: the installed package's own
files, run again under this package's name (``<farm>.core.blend._bat``; about 30 ms, once,
and no BAT source copied into farm). Nothing under ``sys.modules['blender_asset_tracer']`` is
touched: other add-ons keep BAT's own classes and cache. Import :data:`blendfile`,
:data:`trace`, :data:`pack` and the rest from here.

In farm's instance, ``BlendFile`` is :class:`LazyBlendFile`: the file's DNA (its description
of Blender's structs, ~15 ms to decode in Python) is decoded lazily and once per Blender
version, then reused for the rest of the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import logging
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

_SHARED = "blender_asset_tracer"
_PRIVATE = f"{__package__}._bat"


def _load() -> None:
    """Load farm's instance of BAT's package afresh (a reloaded farm gets a new one)."""
    for name in [name for name in sys.modules if _is_private(name)]:
        del sys.modules[name]
    spec = importlib.util.find_spec(_SHARED)
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        raise ImportError(f"{_SHARED} is not installed")
    own = importlib.util.spec_from_file_location(
        _PRIVATE, spec.origin, submodule_search_locations=list(spec.submodule_search_locations)
    )
    assert own is not None and own.loader is not None
    root = importlib.util.module_from_spec(own)
    sys.modules[_PRIVATE] = root
    own.loader.exec_module(root)


def _private(name: str) -> ModuleType:
    """farm's instance of BAT's module ``name`` (like ``"blendfile"``)."""
    module = importlib.import_module(f"{_PRIVATE}.{name}")
    _rebind()
    return module


def _is_private(name: str) -> bool:
    return name == _PRIVATE or name.startswith(_PRIVATE + ".")


def _is_shared(name: object) -> bool:
    return isinstance(name, str) and (name == _SHARED or name.startswith(_SHARED + "."))


def _twin(name: str) -> ModuleType:
    return importlib.import_module(_PRIVATE + name[len(_SHARED):])


def _rebind() -> None:
    """Point farm's BAT modules at each other instead of at the shared ones.

    Relative imports inside BAT already load farm's instance; its absolute imports
    (``from blender_asset_tracer import blendfile``) bind the shared modules (or their
    classes and functions), replaced here by farm's twins, loaded as needed, until none is
    left. (A shared class that BAT subclasses while importing stays a base: none holds state.)
    """
    done: set[str] = set()
    while todo := [module for name, module in list(sys.modules.items())
                   if _is_private(name) and name not in done]:
        for module in todo:
            done.add(module.__name__)
            for attr, value in list(vars(module).items()):
                if isinstance(value, ModuleType):
                    if _is_shared(value.__name__):
                        setattr(module, attr, _twin(value.__name__))
                elif callable(value) and _is_shared(getattr(value, "__module__", None)):
                    name = getattr(value, "__qualname__", "")
                    twin = getattr(_twin(value.__module__), name, None) if "." not in name else None
                    if twin is not None:
                        setattr(module, attr, twin)


if TYPE_CHECKING:  # the same modules, for the type checker
    from blender_asset_tracer import blendfile, bpathlib, pack, trace
    from blender_asset_tracer.blendfile import dna
    from blender_asset_tracer.pack import transfer
    from blender_asset_tracer.trace import file_sequence
else:
    _load()
    blendfile = _private("blendfile")
    bpathlib = _private("bpathlib")
    dna = _private("blendfile.dna")
    pack = _private("pack")
    trace = _private("trace")
    transfer = _private("pack.transfer")
    file_sequence = _private("trace.file_sequence")

__all__ = [
    "LazyBlendFile", "bat_session", "blendfile", "bpathlib", "dna", "file_sequence", "pack",
    "trace", "transfer",
]

# BAT reports missing files and truncated blends through `logging`; the core never prints.
logging.getLogger(_PRIVATE).addHandler(logging.NullHandler())

# farm's BAT keeps one cache of open blend files (used by tracing and packing): one tracer
# or packer at a time, through `bat_session()`.
_BAT_LOCK = threading.Lock()


class _LazyDNA:
    """A file's DNA catalogue, with each struct's fields decoded only when first used.

    BAT decodes all ~1,000 structs and ~10,000 fields of a modern file up front (about 15 ms
    in Python); reading the render settings needs a handful of them.
    """

    def __init__(self, data: bytes, header: Any) -> None:
        endian = header.endian_str.decode()
        self.data = data
        self.pointer_size: int = header.pointer_size
        self.short2 = struct.Struct(endian + "HH")
        uint = struct.Struct(endian + "I")

        offset = 8  # "SDNA" "NAME"
        count = uint.unpack_from(data, offset)[0]
        self.raw_names, offset = _strings(data, offset + 4, count)
        self.names: dict[int, dna.Name] = {}
        offset = _pad4(offset) + 4  # "TYPE"
        count = uint.unpack_from(data, offset)[0]
        type_ids, offset = _strings(data, offset + 4, count)
        offset = _pad4(offset) + 4  # "TLEN"
        sizes = struct.unpack_from(f"{endian}{count}H", data, offset)
        self.types = [
            _LazyStruct(type_id, size) for type_id, size in zip(type_ids, sizes, strict=True)
        ]
        offset = _pad4(offset + 2 * count) + 4  # "STRC"
        count = uint.unpack_from(data, offset)[0]
        offset += 4
        self.structs: list[dna.Struct] = []
        self.index_from_id: dict[bytes, int] = {}
        for index in range(count):
            type_index, fields = self.short2.unpack_from(data, offset)
            lazy = self.types[type_index]
            lazy.pending = (self, offset + 4, fields)
            self.index_from_id[lazy.dna_type_id] = index
            self.structs.append(lazy)
            offset += 4 + 4 * fields

    def name(self, index: int) -> dna.Name:
        found = self.names.get(index)
        if found is None:
            found = self.names[index] = dna.Name(self.raw_names[index])
        return found


def _pad4(offset: int) -> int:
    return (offset + 3) & ~3


def _strings(data: bytes, offset: int, count: int) -> tuple[list[bytes], int]:
    """``count`` NUL-terminated strings from ``offset``, and the offset after them."""
    found = data[offset:].split(b"\0", count)[:count]
    if len(found) < count:
        raise ValueError("the DNA block is cut short")
    return found, offset + sum(len(item) for item in found) + count


class _LazyStruct(dna.Struct):
    """A BAT ``dna.Struct`` that decodes its fields on first use."""

    def __init__(self, dna_type_id: bytes, size: int) -> None:
        self.pending: tuple[_LazyDNA, int, int] | None = None
        self._decoded: list[dna.Field] = []
        self._decoded_by_name: dict[bytes, dna.Field] = {}
        super().__init__(dna_type_id, size)

    # BAT's Struct keeps its fields in these two attributes.
    @property
    def _fields(self) -> list[dna.Field]:
        if self.pending is not None:
            self._decode()
        return self._decoded

    @_fields.setter
    def _fields(self, value: list[dna.Field]) -> None:
        self._decoded = value

    @property
    def _fields_by_name(self) -> dict[bytes, dna.Field]:
        if self.pending is not None:
            self._decode()
        return self._decoded_by_name

    @_fields_by_name.setter
    def _fields_by_name(self, value: dict[bytes, dna.Field]) -> None:
        self._decoded_by_name = value

    def _decode(self) -> None:
        pending = self.pending
        if pending is None:
            return
        catalogue, offset, count = pending
        fields: list[dna.Field] = []
        by_name: dict[bytes, dna.Field] = {}
        field_offset = 0
        for index in range(count):
            type_index, name_index = catalogue.short2.unpack_from(
                catalogue.data, offset + 4 * index
            )
            dna_type = catalogue.types[type_index]
            name = catalogue.name(name_index)
            if name.is_pointer or name.is_method_pointer:
                size = catalogue.pointer_size * name.array_size
            else:
                size = dna_type.size * name.array_size
            field = dna.Field(dna_type, name, size, field_offset)
            fields.append(field)
            by_name[name.name_only] = field
            field_offset += size
        self._decoded, self._decoded_by_name = fields, by_name
        self.pending = None


class LazyBlendFile(blendfile.BlendFile):
    """A BAT BlendFile that decodes DNA lazily, reuses it for files with the same DNA (all
    files saved by one Blender version), and closes its file when opening fails."""

    _dna_cache: dict[bytes, _LazyDNA] = {}

    def __init__(self, path: Path, mode: str = "rb") -> None:
        try:
            super().__init__(path, mode)
        except BaseException:
            fileobj = getattr(self, "fileobj", None)
            if fileobj is not None:
                fileobj.close()
            raise

    def decode_structs(self, block: Any) -> None:
        data = self.fileobj.read(block.size)
        header = self.header
        digest = hashlib.sha1(data, usedforsecurity=False).digest()
        key = bytes([header.pointer_size]) + header.endian_str + digest
        catalogue = self._dna_cache.get(key)
        if catalogue is None:
            catalogue = _LazyDNA(data, header)
            if len(self._dna_cache) >= 8:
                self._dna_cache.clear()
            self._dna_cache[key] = catalogue
        self.structs.extend(catalogue.structs)
        self.sdna_index_from_id.update(catalogue.index_from_id)


# farm's instance only: its `open_cached` (the tracer's and packer's way in) makes these.
setattr(blendfile, "BlendFile", LazyBlendFile)  # noqa: B010 - a type mypy won't let us assign


@contextlib.contextmanager
def bat_session() -> Iterator[None]:
    """Use farm's BAT tracer or packer, one at a time in this process.

    Afterwards the files farm's BAT opened are closed (its cache holds nothing else), so a
    file that changes on disk is read again.
    """
    with _BAT_LOCK:
        try:
            yield
        finally:
            blendfile.close_all_cached()
