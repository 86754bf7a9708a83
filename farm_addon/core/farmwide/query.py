"""The job query language of ``farm kill`` and the Kill button. No `bpy` module use.

A query is whitespace-separated terms, all of which must match (AND)::

    chair-*                   a bare word is a glob on the job's name
    status:active,queued      the Flamenco status is one of these
    release:spring-*          the farm release (glob)
    meta.object:chair         a metadata value (glob); any metadata key works
    id:3f2a                   the Flamenco job id, or its first characters

Quote a term that holds spaces: ``"name with space"`` or ``meta.note:"two words"``.
A farm job's name is its name in the release (metadata ``farm.job``); other jobs on the
Manager are matched by their Flamenco name. ``*`` matches every job.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import BadInput
from ..flamenco.status import JobStatus

KEYS = ("status", "release", "meta.KEY", "id")
_STATUSES = frozenset(s.value for s in JobStatus)

HELP = """\
query terms (all must match):
  WORD                 glob on the job name, e.g. chair-* ('*' matches every job)
  status:S[,S...]      Flamenco status, e.g. status:active,queued
  release:GLOB         the farm release, e.g. release:spring-*
  meta.KEY:GLOB        a metadata value, e.g. meta.object:chair
  id:ID                a Flamenco job id or its first characters
"""


class BadQuery(BadInput):
    """A query that does not parse."""


@dataclass(frozen=True)
class JobFacts:
    """What a query can see of a job: enough to match without the client's models."""

    id: str
    name: str
    status: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def farm_name(self) -> str:
        return self.metadata.get("farm.job") or self.name


@dataclass(frozen=True)
class Query:
    text: str
    names: tuple[str, ...] = ()
    statuses: frozenset[str] | None = None
    releases: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    ids: tuple[str, ...] = ()

    def matches(self, job: JobFacts) -> bool:
        if self.statuses is not None and job.status not in self.statuses:
            return False
        if any(not fnmatch.fnmatchcase(job.farm_name, g) for g in self.names):
            return False
        release = job.metadata.get("farm.release", "")
        if any(not fnmatch.fnmatchcase(release, g) for g in self.releases):
            return False
        for key, pattern in self.meta:
            value = job.metadata.get(key)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return all(job.id.lower().startswith(prefix.lower()) for prefix in self.ids)


def parse_query(text: str, *, release: str | None = None) -> Query:
    """Parse ``text``; ``release`` (from ``RELEASE.jobs``) adds a ``release:`` term."""
    try:
        terms = shlex.split(text)
    except ValueError as exc:
        raise BadQuery(f"Query {text!r} does not parse: {exc}. Close the quote.") from exc
    if not terms:
        raise BadQuery("The query is empty. Give a job name or pattern, or '*' for every job.")
    names: list[str] = []
    statuses: set[str] | None = None
    releases: list[str] = [release] if release else []
    meta: list[tuple[str, str]] = []
    ids: list[str] = []
    for term in terms:
        key, sep, value = term.partition(":")
        if not sep:
            names.append(term)
            continue
        if not value:
            raise BadQuery(f"Query term {term!r} has nothing after ':'. Example: status:queued.")
        if key == "status":
            wanted = {v.strip() for v in value.split(",") if v.strip()}
            unknown = sorted(wanted - _STATUSES)
            if unknown:
                raise BadQuery(
                    f"Unknown status {', '.join(unknown)} in {term!r}. "
                    f"Known statuses: {', '.join(sorted(_STATUSES))}."
                )
            statuses = wanted if statuses is None else statuses & wanted
        elif key == "release":
            releases.append(value)
        elif key.startswith("meta.") and len(key) > 5:
            meta.append((key[5:], value))
        elif key == "id":
            ids.append(value)
        else:
            raise BadQuery(
                f"Unknown query key {key!r} in {term!r}. Use status:, release:, meta.KEY: or id:, "
                "or a bare word to match job names."
            )
    return Query(
        text=text,
        names=tuple(names),
        statuses=frozenset(statuses) if statuses is not None else None,
        releases=tuple(releases),
        meta=tuple(meta),
        ids=tuple(ids),
    )
