"""The job query language of `farm kill`: parsing, matching, and robustness (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm_addon.core.errors import BadInput
from farm_addon.core.farmwide.query import HELP, BadQuery, JobFacts, Query, parse_query

ID = "3f2a9c1e-0000-4000-8000-000000000001"


def job(name: str = "chair-oak", status: str = "queued", release: str = "spring",
        flamenco_name: str | None = None, job_id: str = ID, **meta: str) -> JobFacts:
    metadata = {"farm.release": release, "farm.job": name, **meta} if release else dict(meta)
    return JobFacts(id=job_id, name=flamenco_name or f"{release}/{name}", status=status,
                    metadata=metadata)


def matches(query: str, facts: JobFacts, release: str | None = None) -> bool:
    return parse_query(query, release=release).matches(facts)


def test_bare_word_globs_the_farm_job_name() -> None:
    assert matches("chair-*", job())
    assert matches("chair-oak", job())
    assert not matches("chair", job())
    assert not matches("spring/*", job())  # the release is not part of a farm job's name
    assert matches("*", job())
    assert matches("CHAIR-*", job()) is False  # case matters, like file names on Linux


def test_jobs_outside_farm_match_by_flamenco_name() -> None:
    other = job(release="", flamenco_name="someone's test")
    assert matches('"someone\'s test"', other)
    assert matches("some*", other)


def test_status_terms() -> None:
    assert matches("status:queued", job())
    assert matches("status:active,queued", job())
    assert not matches("status:active", job())
    assert not matches("status:active status:queued", job())  # ANDed: no status is both
    with pytest.raises(BadQuery, match="Unknown status runing"):
        parse_query("status:runing")


def test_release_terms() -> None:
    assert matches("release:spring", job())
    assert matches("release:spr*", job())
    assert not matches("release:summer", job())
    assert matches("*", job(), release="spring")
    assert not matches("*", job(), release="summer")
    assert not matches("release:spring", job(release=""))


def test_meta_terms() -> None:
    facts = job(object="chair", note="two words")
    assert matches("meta.object:chair", facts)
    assert matches("meta.object:ch*", facts)
    assert not matches("meta.object:lamp", facts)
    assert not matches("meta.colour:*", facts)  # a missing key never matches
    assert matches('meta.note:"two words"', facts)
    assert matches("meta.farm.release:spring", facts)


def test_id_prefix() -> None:
    assert matches("id:3f2a", job())
    assert matches(f"id:{ID.upper()}", job())
    assert not matches("id:4f", job())


def test_terms_are_anded() -> None:
    facts = job(object="chair")
    assert matches("chair-* status:queued release:spring meta.object:chair id:3f", facts)
    assert not matches("chair-* status:queued release:summer", facts)
    assert not matches("chair-* lamp-*", facts)


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ('"open', "does not parse"),
    ("status:", "nothing after ':'"),
    ("colour:red", "Unknown query key 'colour'"),
    ("meta.:x", "Unknown query key 'meta.'"),
])
def test_bad_queries(text: str, why: str) -> None:
    with pytest.raises(BadQuery, match=why) as info:
        parse_query(text)
    assert isinstance(info.value, BadInput) and info.value.exit_code == 2


def test_parsed_query_keeps_its_parts() -> None:
    q = parse_query("chair-* status:queued,active meta.object:chair id:3f", release="spring")
    assert q == Query(text="chair-* status:queued,active meta.object:chair id:3f",
                      names=("chair-*",), statuses=frozenset({"queued", "active"}),
                      releases=("spring",), meta=(("object", "chair"),), ids=("3f",))


def test_help_lists_every_key() -> None:
    for key in ("status:", "release:", "meta.KEY:", "id:"):
        assert key in HELP


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_a_query_or_bad_query(text: str) -> None:
    try:
        query = parse_query(text)
    except BadQuery:
        return
    assert isinstance(query, Query)
    query.matches(job())  # matching never raises either


_WORDS = st.sampled_from(["chair-*", "*", "status:queued", "status:active,queued",
                          "release:spr*", "meta.object:chair", "id:3f", "lamp",
                          "status:", "x:y", '"a b"', "'", "meta.:", "\\"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS | st.text(max_size=8), max_size=6), st.none() | st.text(max_size=10))
def test_term_soup_is_a_query_or_bad_query(words: list[str], release: str | None) -> None:
    try:
        query = parse_query(" ".join(words), release=release)
    except BadQuery:
        return
    query.matches(job(object="chair"))
