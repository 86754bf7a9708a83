"""Naming templates, per-frame data, renamer files and target checks."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput
from farm_addon.core.naming import (
    DEFAULT_TEMPLATE,
    FrameInfo,
    Renamer,
    Template,
    check_targets,
    compress_frames,
    load_frame_data,
    make_namer,
    parse_frame_data,
    path_problem,
)
from farm_addon.core.naming import targets as naming

META = {"object": "chair", "material": "oak", "farm.job": "chair-oak"}


def info(frame: int = 7, data: object = None, has_data: bool = False, **kw: object) -> FrameInfo:
    base: dict[str, object] = dict(release="spring", job="chair-oak", frame=frame, ext=".png",
                                   revision=2, meta=META, data=data, has_data=has_data)
    base.update(kw)
    return FrameInfo(**base)  # type: ignore[arg-type]


# --- templates ------------------------------------------------------------------------------

def test_turntable_example() -> None:
    t = Template("{meta.object}-{meta.material}_r{angle:03d}.png")
    assert t.uses_data
    assert t.render(info(data={"angle": 90}, has_data=True)) == "chair-oak_r090.png"


def test_scalar_data_is_value() -> None:
    t = Template("{job}_r{value:03d}{ext}")
    assert t.render(info(data=90, has_data=True)) == "chair-oak_r090.png"


def test_builtin_fields_and_subfolder() -> None:
    t = Template("{release}/{meta.object}-{meta.material}_{frame:04d}{ext}")
    assert not t.uses_data
    assert t.render(info()) == "spring/chair-oak_0007.png"
    assert Template("{job}.v{revision}.{frame}{ext}").render(info()) == "chair-oak.v2.7.png"
    assert Template("{data.angle:.1f}_{frame:>4}").render(
        info(data={"angle": 12.25}, has_data=True)) == "12.2_   7"


def test_metadata_key_with_dot() -> None:
    assert Template("{meta.farm.job}{ext}").render(info()) == "chair-oak.png"


def test_default_template() -> None:
    assert Template(DEFAULT_TEMPLATE).render(info()) == "chair-oak_000007.png"


@pytest.mark.parametrize("text, fragment", [
    ("{nope}{ext}", "unknown field {nope}"),
    ("{meta.colour}", "has no metadata 'colour'"),
    ("{data.angle}", "none was given"),
    ("{frame:zz}", "not a format spec"),
    ("{frame:s}", "format spec 's' does not apply"),
    ("{meta.object:04d}", "does not apply"),
    ("{frame:9999}", "too large"),
    ("{frame:.999f}", "too large"),
    ("{", "does not parse"),
    ("}", "does not parse"),
    ("{}", "empty field"),
    ("{0}", "unknown field"),
    ("{job.__class__}", "attribute access"),
    ("{meta[0]}", "indexing"),
    ("{job!x}", "unknown conversion"),
    ("{frame:{width}}", "nested fields"),
    ("", "empty"),
    ("../{job}", "'..'"),
    ("/abs/{job}", "absolute"),
    ("{job}//{frame}", "empty path component"),
    ("{job}:{frame}", "reserved on Windows"),
    ("manifest.json", "farm's own"),
    ("{job}/con.png", "device name"),
    ("{job}. /x", "ends with a space or dot"),
])
def test_template_errors(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as exc:
        Template(text).render(info())
    assert fragment in str(exc.value)


def test_unknown_field_lists_available() -> None:
    with pytest.raises(BadInput) as exc:
        Template("{angel}").render(info(data={"angle": 90}, has_data=True))
    msg = str(exc.value)
    for name in ("release", "job", "frame", "ext", "revision", "meta.object", "data.angle"):
        assert name in msg


def test_non_scalar_data_value() -> None:
    with pytest.raises(BadInput, match="only text and numbers"):
        Template("{data.xs}").render(info(data={"xs": [1, 2]}, has_data=True))


def test_char_conversion_to_nul_is_unsafe() -> None:
    with pytest.raises(BadInput, match="unsafe"):
        Template("{frame:c}").render(info(frame=0))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=40))
def test_any_template_is_a_name_or_bad_input(text: str) -> None:
    try:
        name = Template(text).render(info(data={"angle": 90, "n": "x"}, has_data=True))
    except BadInput:
        return
    assert isinstance(name, str) and path_problem(name) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}:!.0123456789dfsxcnme_<>^=+-# %,jobrelasvtiu[]", max_size=24))
def test_brace_heavy_templates_never_crash(text: str) -> None:
    with contextlib.suppress(BadInput):
        Template(text).render(info(frame=123456, data={"angle": -1.5}, has_data=True))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"aZ09_-. /+:\\", "con", "nul", "LPT1", "é", "manifest.json",
                                 ".farm-"]), max_size=30).map("".join))
def test_fast_path_check_agrees_with_the_full_one(name: str) -> None:
    assert path_problem(name) == naming._path_problem(name)


# --- per-frame data -------------------------------------------------------------------------

def test_frame_data_forms(tmp_path: Path) -> None:
    p = tmp_path / "d.json"
    p.write_text('{"7": {"angle": 90}, "008": 45, " -1 ": "x"}')
    assert load_frame_data(p) == {7: {"angle": 90}, 8: 45, -1: "x"}


@pytest.mark.parametrize("text, fragment", [
    ('{"1": 2,\n "2": 3\n "3": 4}', "line 3"),
    ("[1, 2]", "expected a JSON object"),
    ('{"1": 1,\n"one": 2}', "line 2: key 'one' is not a frame number"),
    ('{"1": 1, "01": 2}', "given twice"),
    ('{"1": {"a b": 1}}', "cannot be used in a template"),
])
def test_frame_data_errors(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_frame_data(text, "angles.json")
    assert fragment in str(exc.value) and "angles.json" in str(exc.value)


def test_frame_data_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        load_frame_data(tmp_path / "nope.json")
    bad = tmp_path / "bin.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_frame_data(bad)


def test_frame_missing_from_data() -> None:
    # The harvest passes has_data=True with data None for a frame the file lacks.
    with pytest.raises(BadInput, match="frame 7 has no 'angle'"):
        Template("{angle}").render(info(data=None, has_data=True))


def test_compress_frames() -> None:
    assert compress_frames([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    assert compress_frames([]) == ""


# --- renamer files --------------------------------------------------------------------------

def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "renamer.py"
    p.write_text(textwrap.dedent(body))
    return p


def test_renamer(tmp_path: Path) -> None:
    p = write(tmp_path, """
        def rename(release, job, frame, ext, meta, data):
            return f"{meta['object']}/{job}_{frame * 10:05d}_{data['angle']}{ext}"
    """)
    r = make_namer(renamer=p)
    assert isinstance(r, Renamer)
    assert r.render(info(data={"angle": 90}, has_data=True)) == "chair/chair-oak_00070_90.png"


def test_renamer_raising_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, """
        def rename(release, job, frame, ext, meta, data):
            x = 1
            return meta["nope"]
    """)
    with pytest.raises(BadInput) as exc:
        Renamer(p).render(info())
    msg = str(exc.value)
    assert f"{p} line 4" in msg and "KeyError" in msg and "frame 7" in msg


@pytest.mark.parametrize("body, fragment", [
    ("def rename(**kw):\n    return 7\n", "returned a int"),
    ("def rename(**kw):\n    return '../x.png'\n", "unsafe name"),
    ("def rename(**kw):\n    return '/etc/passwd'\n", "absolute"),
    ("def rename(**kw):\n    return 'a\\x00b'\n", "NUL"),
    ("def rename(**kw)\n    return 'x'\n", "line 1: syntax error"),
    ("import nonexistent_module_xyz\n", "line 1: loading it raised ModuleNotFoundError"),
    ("x = 1\n", "has no function rename"),
])
def test_renamer_errors(tmp_path: Path, body: str, fragment: str) -> None:
    p = write(tmp_path, body)
    with pytest.raises(BadInput) as exc:
        Renamer(p).render(info())
    assert fragment in str(exc.value) and str(p) in str(exc.value)


def test_renamer_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        Renamer(tmp_path / "none.py")


def test_template_and_renamer_exclusive(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not both"):
        make_namer("{job}", tmp_path / "r.py")


# --- target checks --------------------------------------------------------------------------

def test_collision_two_frames_one_name() -> None:
    with pytest.raises(BadInput) as exc:
        check_targets([("job a frame 1", "a.png"), ("job a frame 2", "a.png"),
                       ("job b frame 1", "b.png")])
    assert "job a frame 1 and job a frame 2 both map to 'a.png'" in str(exc.value)


def test_case_and_unicode_collisions() -> None:
    with pytest.raises(BadInput, match=r"x and y both map to 'Chair\.png' \('chair\.PNG', "
                                        "differing only in case"):
        check_targets([("x", "Chair.png"), ("y", "chair.PNG")])
    with pytest.raises(BadInput, match="both map"):
        check_targets([("x", "caf\u00e9.png"), ("y", "cafe\u0301.png")])


def test_file_and_folder_collision() -> None:
    with pytest.raises(BadInput, match="also a folder"):
        check_targets([("x", "a"), ("y", "a/b.png")])


def test_existing_target() -> None:
    with pytest.raises(BadInput, match="already exists in the delivery folder"):
        check_targets([("x", "A.png")], existing={"a.png": "a.png"})


def test_many_problems_are_summarised() -> None:
    pairs = [(f"frame {i}", "same.png") for i in range(40)]
    with pytest.raises(BadInput, match=r"frame 0, frame 1, frame 2 and 37 more all map to "
                                        r"'same\.png'"):
        check_targets(pairs)
    pairs = [(f"frame {i}", f"{i}/") for i in range(40)]
    with pytest.raises(BadInput, match=r"and 28 more$"):
        check_targets(pairs)


def test_good_targets_pass() -> None:
    check_targets([("x", "a/b.png"), ("y", "a/c.png"), ("z", "d.png")])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="{}:!.0123456789dfsxcn_<>^=+-# %,jobrelasvtimeag[]/", max_size=24),
       st.integers(min_value=-5, max_value=10**7))
def test_bound_namer_agrees_with_render(text: str, frame: int) -> None:
    """The fast per-job namer gives the same name, or the same error, as render()."""
    def outcome(fn: Any) -> tuple[str, str]:
        try:
            return "ok", fn()
        except BadInput as exc:
            return "error", str(exc)

    data = {"angle": 3}
    want = outcome(lambda: Template(text).render(info(frame=frame, data=data, has_data=True)))
    got = outcome(lambda: Template(text).bind(info(frame=1, data=data, has_data=True))(
        frame, data))
    assert got[0] == want[0], (want, got)
    if got[0] == "ok":
        assert got == want
    else:  # an error in a job-wide field is found by bind(), which names the first frame
        assert got[1] in (want[1], want[1].replace(f"frame {frame}", "frame 1"))
