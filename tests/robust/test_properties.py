"""Property-based bad input for the parsers (extending tests/core's any-text properties with
structured, hostile input): plan files as real TOML documents, source patterns and name
templates against a real folder, queries matched against hostile jobs, frame ranges built from
parts, naming templates with hostile metadata and per-frame data, per-frame data files and
damaged release records. Any input gives a valid result or the project's own error (a
FarmError), never another exception."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput, FarmError
from farm_addon.core.farmwide.query import BadQuery, JobFacts, parse_query
from farm_addon.core.frames import (
    MAX_FRAME,
    chunks,
    count_frames,
    format_frames,
    parse_frames,
    parse_intervals,
)
from farm_addon.core.fs.names import fold, validate_name
from farm_addon.core.naming import (
    FrameInfo,
    FrameLabel,
    Template,
    check_targets,
    parse_frame_data,
    path_problem,
)
from farm_addon.core.release.plan import PlanRequest, _collect_sources
from farm_addon.core.release.planfile import BadPlanFile, parse_plan_text
from farm_addon.core.release.record import DamagedRecord, NewerRecord, parse_record
from farm_addon.core.release.sources import expand_sources

pytestmark = pytest.mark.timeout(300)
FAST = settings(max_examples=max(150, settings.default.max_examples), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

HOSTILE = ["..", "../x", "/etc/passwd", "a/b", "a\\b", "C:\\x", "\x00", "CON", "nul.txt",
           "é", "e\u0301", "Chair", "chair", "x" * 120, "{job}", "{", "}", "*", "[", "]",
           "#", " ", ".hidden", "a:b", "~", "\udce9", "\u202e", "\n"]
hostile_text = st.sampled_from(HOSTILE) | st.text(max_size=12)


# --- plan files, as TOML documents ---------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (\u escapes included)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


scalars = (st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
           | hostile_text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=6)
KEYS = ["release", "sources", "name", "naming", "frame_data", "frames", "chunk_size",
        "priority", "worker_tag", "scene", "output_format", "source", "metadata", "bogus"]
tables = st.dictionaries(st.sampled_from(KEYS) | hostile_text, values, max_size=5)


@st.composite
def plan_documents(draw: st.DrawFn) -> str:
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in draw(tables).items()]
    if draw(st.booleans()):
        lines.append("[defaults]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in draw(tables).items()]
    for job in draw(st.lists(hostile_text, max_size=3, unique=True)):
        lines.append(f"[jobs.{json.dumps(job)}]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in draw(tables).items()]
    return "\n".join(lines) + "\n"


@FAST
@given(plan_documents())
def test_plan_documents_parse_or_say_which_line(text: str) -> None:
    try:
        plan = parse_plan_text(text, Path("."))
    except BadPlanFile as exc:
        lines = text.count("\n") + 1
        for word in str(exc).split("line ")[1:]:
            number = word.split(")")[0].split(":")[0].split(",")[0].split(".")[0].strip()
            if number.isdigit():
                assert 1 <= int(number) <= lines, str(exc)
        return
    for name in [plan.release, *plan.jobs]:
        if name is not None:
            with contextlib.suppress(BadInput):
                validate_name(name, "name")


@pytest.fixture(scope="module")
def tree_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources")
    for rel in ("a.blend", "sub/b.blend", "x/y/c.blend", "Chair/oak.blend", "chair/ash.blend",
                "notes.txt", "sub/b.blend1"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"BLENDER")
    return root


@FAST
@given(plan_documents())
def test_plan_documents_give_sources_or_bad_input(tree_dir: Path, text: str) -> None:
    """A parsed plan file, expanded against a real folder: sources or BadInput."""
    try:
        plan = parse_plan_text(text, tree_dir)
        sources = _collect_sources(PlanRequest(cwd=tree_dir), plan)
    except BadInput:
        return
    assert all(s.path.is_file() for s in sources)


PATTERN_PARTS = ["*", "**", "?", "[ab]", "[", "{object}", "{material}", "{a}", "{a_1}",
                 "{}", "{x", "sub", "x", "y", "/", "..", ".blend", "Chair", "chair", "*.blend"]


@FAST
@given(st.lists(st.sampled_from(PATTERN_PARTS) | hostile_text, max_size=6).map("".join),
       st.none() | st.lists(st.sampled_from(["{object}", "{stem}", "{material}", "-", "{",
                                             "{stem.upper}", "{stem[0]}", "{stem!r}",
                                             "{stem:>{w}}", "{stem:x<300}", "../", "/"])
                            | hostile_text, max_size=4).map("".join))
def test_patterns_and_name_templates(tree_dir: Path, pattern: str, template: str | None) -> None:
    assume(not pattern.lstrip().startswith(("/", "~")))  # would walk this machine's disks
    try:
        sources = expand_sources([pattern], tree_dir, template)
    except BadInput:
        return
    for src in sources:
        assert src.path.suffix.lower() == ".blend"
        with contextlib.suppress(BadInput):  # plan refuses such a name with this message
            validate_name(src.name)


# --- queries -------------------------------------------------------------------------------

TERM_KEYS = ["", "status:", "release:", "meta.", "meta.object:", "id:", "nope:", "meta:"]


@FAST
@given(st.lists(st.tuples(st.sampled_from(TERM_KEYS), hostile_text), max_size=5),
       st.lists(st.builds(JobFacts, hostile_text, hostile_text, st.sampled_from(
           ["queued", "active", "x", ""]), st.dictionaries(hostile_text, hostile_text,
                                                           max_size=3)), max_size=3))
def test_queries_match_hostile_jobs(terms: list[tuple[str, str]], jobs: list[JobFacts]) -> None:
    import shlex

    text = " ".join(shlex.quote(k + v) for k, v in terms)
    try:
        query = parse_query(text)
    except BadQuery:
        return
    for job in jobs:
        assert query.matches(job) == query.matches(job)
    if text.strip() == "'*'":
        assert all(query.matches(j) for j in jobs)


# --- frame ranges --------------------------------------------------------------------------

frame_part = st.one_of(
    st.integers(-5, MAX_FRAME + 5).map(str),
    st.tuples(st.integers(0, 3000), st.sampled_from(["-", "..", " - ", "--", "...", "to"]),
              st.integers(-3, 3000)).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
    st.sampled_from(["", " ", "x", "1e3", "٣", "+4", "0x10", "1,", "-", "1-", "-1"]),
)


@FAST
@given(st.lists(frame_part, min_size=1, max_size=6),
       st.sampled_from([",", ", ", " ,", ";"]), st.integers(1, 7))
def test_frame_ranges_from_parts(parts: list[str], sep: str, size: int) -> None:
    text = sep.join(parts)
    try:
        intervals = parse_intervals(text)
    except BadInput:
        return
    assert intervals == sorted(intervals)
    total = sum(b - a + 1 for a, b in intervals)
    assert count_frames(text) == total
    if total <= 20000:
        frames = parse_frames(text)
        assert len(frames) == total and frames == sorted(set(frames))
        assert all(0 <= f <= MAX_FRAME for f in frames)
        assert parse_frames(format_frames(frames)) == frames
        assert [f for c in chunks(frames, size) for f in parse_frames(c)] == frames


# --- naming --------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                           | hostile_text,
                           lambda inner: st.lists(inner, max_size=2)
                           | st.dictionaries(hostile_text, inner, max_size=2), max_leaves=4)
FIELDS = ["{job}", "{release}", "{frame}", "{frame:04d}", "{frame:x}", "{frame:c}", "{ext}",
          "{revision}", "{meta.object}", "{meta.x}", "{data.angle}", "{angle:03d}",
          "{angle:>300}", "{value}", "{value!r}", "/", "_", "-", "..", ".", "{{", "}}"]


@FAST
@given(st.lists(st.sampled_from(FIELDS) | hostile_text, min_size=1, max_size=6).map("".join),
       st.dictionaries(st.sampled_from(["object", "x"]) | hostile_text, hostile_text,
                       max_size=3),
       st.none() | json_values, st.integers(0, MAX_FRAME), hostile_text)
def test_templates_with_hostile_metadata_and_data(text: str, meta: dict[str, str], data: Any,
                                                  frame: int, job: str) -> None:
    info = FrameInfo("spring", job, frame, ".png", 2, meta, data, has_data=data is not None)
    try:
        template = Template(text)
        name = template.render(info)
    except BadInput:
        return
    assert path_problem(name) is None
    assert template.bind(info)(frame, data) == name


@FAST
@given(st.lists(st.sampled_from(["a.png", "A.png", "x/a.png", "x", "x/", "../a", "/a",
                                 "é.png", "e\u0301.png", "manifest.json", ".farm-tmp-x",
                                 "con.png", "a" * 300]) | hostile_text, max_size=8))
def test_check_targets_passes_only_safe_distinct_names(names: list[str]) -> None:
    pairs = [(FrameLabel("job", n), name) for n, name in enumerate(names)]
    try:
        check_targets(pairs)
    except BadInput:
        return
    folded = [fold(n) for n in names]
    assert len(set(folded)) == len(folded)
    assert all(path_problem(n) is None for n in names)


@FAST
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=40),
                 st.dictionaries(st.text(max_size=5), json_values, max_size=4).map(json.dumps)))
def test_frame_data_documents(text: str) -> None:
    try:
        data = parse_frame_data(text)
    except BadInput:
        return
    assert all(isinstance(k, int) for k in data)


def test_deeply_nested_inputs_are_refused() -> None:
    """Deep nesting blows Python's parsers' recursion: refused like any damaged input."""
    with pytest.raises(BadInput):
        parse_frame_data("[" * 100_000)
    with pytest.raises(BadPlanFile):
        parse_plan_text("a = " + "[" * 100_000, Path("."))
    with pytest.raises(DamagedRecord):
        parse_record("[" * 100_000)


# --- damaged release records --------------------------------------------------------------

record_like = st.fixed_dictionaries(
    {"schema_version": st.sampled_from([1, 2, 0, "1", None, True]),
     "name": hostile_text,
     "jobs": st.lists(st.dictionaries(st.sampled_from(
         ["name", "source", "source_sha256", "stored_blend", "frames", "scene",
          "output_format", "file_extension", "output_dir", "revision", "revisions",
          "chunk_size", "priority", "metadata"]), json_values, max_size=10), max_size=2)},
    optional={"harvests": json_values, "bogus": json_values})


@FAST
@given(st.one_of(record_like.map(json.dumps), json_values.map(json.dumps),
                 st.text(max_size=40)))
def test_damaged_records_are_refused_clearly(text: str) -> None:
    try:
        parse_record(text)
    except (DamagedRecord, NewerRecord) as exc:
        assert isinstance(exc, FarmError) and "release.json" in str(exc)
