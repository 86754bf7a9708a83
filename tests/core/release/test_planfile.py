"""Plan files: the TOML schema, relative paths, and mistakes reported with their line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput
from farm_addon.core.release.planfile import (
    BadPlanFile,
    JobOverride,
    JobSettings,
    load_plan_file,
    parse_plan_text,
)

FULL = """\
release = "spring-catalogue"
sources = ["assets/{object}/{material}.blend", "extras/"]
name = "{object}-{material}"
naming = "{job}_r{angle:03d}{ext}"
frame_data = "angles.json"

[defaults]
frames = "1-36"
chunk_size = 4
priority = 60
worker_tag = "cpu"
scene = "Scene"
output_format = "PNG"

[jobs.chair-oak]
frames = "1-12"

[jobs.lamp]
source = "extras/lamp_v3.blend"
metadata = { object = "lamp" }
"""


def test_full_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "spring.toml"
    path.write_text(FULL, encoding="utf-8")
    plan = load_plan_file(path)
    assert plan.release == "spring-catalogue"
    assert plan.sources == ["assets/{object}/{material}.blend", "extras/"]
    assert plan.name == "{object}-{material}"
    assert plan.naming == "{job}_r{angle:03d}{ext}"
    assert plan.defaults == JobSettings(frames="1-36", chunk_size=4, priority=60,
                                        worker_tag="cpu", scene="Scene", output_format="PNG")
    assert plan.jobs["chair-oak"] == JobOverride(frames="1-12")
    assert plan.jobs["lamp"].source == "extras/lamp_v3.blend"
    assert plan.jobs["lamp"].metadata == {"object": "lamp"}
    assert plan.base_dir == tmp_path.resolve()
    assert plan.resolve("angles.json") == tmp_path.resolve() / "angles.json"
    assert plan.resolve("/abs/x.json") == Path("/abs/x.json")


def test_empty_plan_file_is_valid(tmp_path: Path) -> None:
    plan = parse_plan_text("", tmp_path)
    assert plan.sources == [] and plan.jobs == {} and plan.defaults == JobSettings()


@pytest.mark.parametrize(("text", "expected"), [
    ('release = "x"\nsources = "a.blend"\n', "sources (line 2): Input should be a valid list"),
    ('release = "x"\nsource = ["a.blend"]\n', "source (line 2): unknown setting"),
    ('release = "x"\n\n[defaults]\nchunk_size = 0\n',
     "defaults.chunk_size (line 4): Input should be greater than or equal to 1"),
    ('[defaults]\nframes = 3\n', "defaults.frames (line 2): Input should be a valid string"),
    ('[defaults]\npriority = 101\n', "defaults.priority (line 2)"),
    ('[jobs.a]\nframes = "1"\n\n[jobs.b]\nchunk_size = "big"\n',
     "jobs.b.chunk_size (line 5)"),
    ('[jobs.a]\nframes = "1"\n\n[jobs."b c"]\nworker = "gpu"\n',
     "jobs.b c.worker (line 5): unknown setting"),
    ('[jobs.a]\nmetadata = { object = 3 }\n', "jobs.a.metadata.object (line 2)"),
    ('[jobs.a]\nframes = 3\n', "jobs.a.frames (line 2)"),
    ('[jobs]\na = 3\n', "jobs.a (line 2)"),
    ('release = "x"\nrelease = "y"\n', "line 2"),
    ('release = "x"\n[defaults\n', "line 2"),
    ('release = "x\n', "line 1"),
    ('sources = ["a.blend",\n', "line 1"),  # unclosed: tomllib says "end of document"
])
def test_mistakes_name_their_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(BadPlanFile) as info:
        parse_plan_text(text, tmp_path, origin="plan.toml")
    message = str(info.value)
    assert expected in message, message
    assert message.startswith("plan.toml ")
    assert info.value.exit_code == 2


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b'release = "x"\nname = "caf\xe9"\n')
    with pytest.raises(BadPlanFile, match=r"not UTF-8 text \(line 2\)"):
        load_plan_file(path)


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(BadPlanFile, match="does not exist"):
        load_plan_file(tmp_path / "nope.toml")
    with pytest.raises(BadPlanFile, match="cannot be read"):
        load_plan_file(tmp_path)  # a folder


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_plan_or_bad_plan_file(text: str) -> None:
    try:
        parse_plan_text(text, Path("."))
    except BadInput as exc:
        assert isinstance(exc, BadPlanFile)
