"""Frame ranges, Flamenco's chunking, and Blender's frame file names."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput
from farm_addon.core.frames import (
    MAX_FRAME,
    chunks,
    count_frames,
    format_frames,
    frame_filename,
    parse_frames,
    parse_intervals,
)


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("7", [7]),
        ("0", [0]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("1..3", [1, 2, 3]),
        ("1-3,2-4", [1, 2, 3, 4]),
        ("10,1-2,5", [1, 2, 5, 10]),
        (" 1  .. 3,\t5\n", [1, 2, 3, 5]),
        ("3-3", [3]),
        ("007", [7]),
    ],
)
def test_parse(text: str, frames: list[int]) -> None:
    assert parse_frames(text) == frames
    assert count_frames(text) == len(frames)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1,,2", "(nothing)"),
        ("1,", "(nothing)"),
        ("1 10", "'1 10'"),
        ("a-b", "'a-b'"),
        ("1-", "'1-'"),
        ("-5", "'-5'"),
        ("1-2-3", "'1-2-3'"),
        ("1:10", "'1:10'"),
        ("1.5", "'1.5'"),
        ("١٢", "'١٢'"),  # Arabic-Indic digits: Python's int() would take them
        ("1_000", "'1_000'"),
        ("10-1", "runs backwards; write it as '1-10'"),
        (f"{MAX_FRAME + 1}", "beyond Blender's last frame"),
        ("0-1000000", "1,000,001 frames"),
        ("99999999999999999999999", "beyond Blender's last frame"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_frames(text)
    assert message in str(caught.value)


def test_overlapping_ranges_count_once() -> None:
    # Each range alone is allowed; their union is what counts, and is computed without
    # listing frames (a thousand copies of a large range stay fast).
    assert count_frames(",".join(["0-999999"] * 1000)) == 1_000_000


def test_intervals_are_merged() -> None:
    assert parse_intervals("5-9,1-3,4,20") == [(1, 9), (20, 20)]


def test_format_follows_flamenco() -> None:
    assert format_frames([1, 2, 3, 4]) == "1-4"
    assert format_frames([9, 10, 20, 21]) == "9,10,20,21"
    assert format_frames([40]) == "40"
    assert format_frames([3, 1, 2, 2]) == "1-3"
    assert format_frames([]) == ""


def test_chunks_match_flamenco_job_compiler() -> None:
    # The Manager's own examples (js_globals_test.go).
    expected = ["1-4", "5-8", "9,10,20,21", "22-25", "40"]
    assert chunks("1..10,20..25,40,3..8", 4) == expected
    assert chunks("1-10,20-25,40", 4) == expected
    assert chunks(" 1  .. 10,\t20..25\n,40   ", 4) == expected
    assert chunks("47", 4) == ["47"]
    assert chunks("1-3", 3) == ["1-3"]
    assert chunks([5, 1, 3], 1) == ["1", "3", "5"]


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "2"])
def test_bad_chunk_size(size: object) -> None:
    with pytest.raises(BadInput, match="chunk size"):
        chunks("1-10", size)  # type: ignore[arg-type]


@given(st.text())
def test_any_text_parses_or_is_bad_input(text: str) -> None:
    try:
        frames = parse_frames(text)
    except BadInput:
        return
    assert frames == sorted(set(frames))
    assert frames and all(0 <= frame <= MAX_FRAME for frame in frames)


@given(st.text(alphabet="0123456789-.,: \t", max_size=30))
def test_range_like_text_parses_or_is_bad_input(text: str) -> None:
    with contextlib.suppress(BadInput):
        parse_frames(text)


frame_sets = st.sets(st.integers(min_value=0, max_value=MAX_FRAME), min_size=1, max_size=200)


@given(frame_sets)
def test_format_parse_round_trip(frames: set[int]) -> None:
    text = format_frames(frames)
    assert parse_frames(text) == sorted(frames)
    assert format_frames(parse_frames(text)) == text


@given(frame_sets, st.integers(min_value=1, max_value=50))
def test_chunks_cover_every_frame_once_in_order(frames: set[int], size: int) -> None:
    parts = chunks(sorted(frames), size)
    flat = [frame for part in parts for frame in parse_frames(part)]
    assert flat == sorted(frames)
    assert all(count_frames(part) == size for part in parts[:-1])
    assert 1 <= count_frames(parts[-1]) <= size


def test_frame_filename() -> None:
    out = Path("out") / "chair"
    assert frame_filename(out, 7, ".png") == out / "000007.png"
    assert frame_filename(out, 1234567, ".png") == out / "1234567.png"
    assert frame_filename(out, 7, ".exr", "frame_####") == out / "frame_0007.exr"
    assert frame_filename(out, 7, ".png", "a##_b###") == out / "a##_b007.png"
    assert frame_filename(out, 7, ".png", "render") == out / "render0007.png"
