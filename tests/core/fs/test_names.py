"""Job, release and volume names: what is refused, why, and what is suggested."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput
from farm_addon.core.fs.names import (
    MAX_CHARS,
    casefold_collisions,
    is_valid_name,
    safe_name,
    validate_name,
)

GOOD = [
    "chair-oak", "shot_010", "v1.2", "Chair Oak", "a", "x" * MAX_CHARS, "étagère", "椅子",
    "con-table", "CONSOLE", "com10", "lpt", "a.b.c", "frame-0001", "🪑",
]

HOSTILE = [
    ("", "empty"),
    ("a/b", "'/'"),
    ("/abs", "'/'"),
    ("a\\b", "'\\\\'"),
    ("..", "'..'"),
    ("../up", "'/'"),
    ("a..b", "'..'"),
    ("nul\x00byte", "U+0000"),
    ("tab\there", "U+0009"),
    ("new\nline", "U+000A"),
    ("bell\x07", "U+0007"),
    ("del\x7f", "U+007F"),
    ("rtl\u202eevil", "U+202E"),
    ("zero\u200bwidth", "U+200B"),
    ("line\u2028sep", "U+2028"),
    ("lone\udcffsurrogate", "UTF-8"),
    ("a<b", "'<'"),
    ("a>b", "'>'"),
    ("c:drive", "':'"),
    ('say"hi"', "'\"'"),
    ("pipe|", "'|'"),
    ("what?", "'?'"),
    ("star*", "'*'"),
    ("frame_###", "'#'"),
    ("{blender}", "'{'"),
    ("CON", "device name"),
    ("con", "device name"),
    ("Nul.txt", "device name"),
    ("COM1", "device name"),
    ("lpt9.blend", "device name"),
    ("COM¹", "device name"),
    ("AUX ", "dot or a space"),
    (".hidden", "dot or a space"),
    ("trailing.", "dot or a space"),
    (" lead", "dot or a space"),
    ("trail ", "dot or a space"),
    ("x" * (MAX_CHARS + 1), "characters long"),
    ("椅" * 70, "bytes in UTF-8"),
]


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass_unchanged(name: str) -> None:
    assert validate_name(name) == name
    assert is_valid_name(name)


@pytest.mark.parametrize(("name", "reason"), HOSTILE)
def test_hostile_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        validate_name(name, "job name")
    message = str(caught.value)
    assert message.startswith("The job name ")
    assert reason in message
    assert BadInput.exit_code == 2


def test_message_suggests_a_valid_name() -> None:
    with pytest.raises(BadInput, match=r"Try 'chair-oak'"):
        validate_name("chair/oak")


def test_message_names_the_thing() -> None:
    with pytest.raises(BadInput, match=r"^The release name 'a/b'"):
        validate_name("a/b", "release name")


def test_non_text_is_refused() -> None:
    with pytest.raises(BadInput, match="must be text"):
        validate_name(42)


def test_long_names_are_shortened_in_messages() -> None:
    with pytest.raises(BadInput) as caught:
        validate_name("/" + "x" * 500)
    assert len(str(caught.value)) < 300


@given(st.text())
def test_validate_never_raises_anything_but_bad_input(text: str) -> None:
    with contextlib.suppress(BadInput):
        assert validate_name(text) == text


@given(st.text())
def test_safe_name_always_gives_a_valid_name(text: str) -> None:
    assert is_valid_name(safe_name(text))


def test_safe_name_keeps_what_it_can() -> None:
    assert safe_name("assets/chair/oak") == "assets-chair-oak"
    assert safe_name("../..") == "job"
    assert safe_name("CON") == "CON_"
    assert safe_name("  shot 010.blend ") == "shot-010.blend"


def test_casefold_collisions() -> None:
    assert casefold_collisions(["a", "b", "c"]) == []
    names = ["Chair", "table", "chair", "CHAIR"]
    assert casefold_collisions(names) == [["Chair", "chair", "CHAIR"]]
    # Composed and decomposed spellings of é are one name on macOS.
    assert casefold_collisions(["caf\u00e9", "cafe\u0301"]) == [["caf\u00e9", "cafe\u0301"]]
    assert casefold_collisions(["Straße", "STRASSE"]) == [["Straße", "STRASSE"]]
    assert casefold_collisions(["x", "x"]) == [["x", "x"]]
