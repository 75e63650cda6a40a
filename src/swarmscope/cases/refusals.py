"""A refusal in parts: its text, and the case, works and rights holders (clients) it names, so that each
front end renders it for its reader.

The operator's command line and a console user bound to no client read every part as written
(:meth:`Refusal.render` with no client). A console user bound to one client must never learn of another
client or its works (README "Web console": another client's objects answer 404, by page and API), so a
part about another client's work is rendered as its ``hidden`` text, which names neither the work nor the
rights holder, nor what else the part says of it (its reference path, its piece counts). The parts:

- ``str``: text that names no work (shown to every reader);
- :class:`AboutWork`: text about one work (its link, its check, its reference content), shown whole to a
  reader who may see the work's client, else its ``hidden`` text;
- :class:`WorksOf`: the works a torrent is linked to when they belong to more than one rights holder
  (``work 3 of A and work 4 of B``): a reader bound to one of them reads "works of more than one rights
  holder".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkNamed:
    """A work a refusal names: its id and its rights holder (client id and name)."""

    work_id: int
    client_id: int
    client: str

    def label(self) -> str:
        return f"work {self.work_id} of {self.client}"


@dataclass(frozen=True, slots=True)
class AboutWork:
    """Text about one work; ``hidden`` is what a reader bound to another client reads instead."""

    work: WorkNamed
    text: str
    hidden: str


@dataclass(frozen=True, slots=True)
class WorksOf:
    """Works of more than one rights holder (one torrent linked to each)."""

    works: tuple[WorkNamed, ...]


Part = str | AboutWork | WorksOf


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why something is refused, in :data:`Part` s; ``doe`` the case it is about (None: none)."""

    parts: tuple[Part, ...]
    doe: str | None = None

    @classmethod
    def of(cls, *parts: Part | Refusal, doe: str | None = None) -> Refusal:
        """The parts (a refusal among them adds its own parts) as one refusal."""
        flat: list[Part] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Refusal) else (part,))
        return cls(tuple(flat), doe)

    @classmethod
    def joined(cls, refusals: Iterable[Part | Refusal], separator: str = "; ") -> Refusal:
        """The refusals one after another, ``separator`` between them."""
        parts: list[Part | Refusal] = []
        for n, refusal in enumerate(refusals):
            parts.extend([separator, refusal] if n else [refusal])
        return cls.of(*parts)

    @property
    def works(self) -> tuple[WorkNamed, ...]:
        """Every work the refusal names, in order."""
        found: list[WorkNamed] = []
        for part in self.parts:
            if isinstance(part, AboutWork):
                found.append(part.work)
            elif isinstance(part, WorksOf):
                found.extend(part.works)
        return tuple(found)

    @property
    def clients(self) -> frozenset[int]:
        """The client ids of the rights holders the refusal names."""
        return frozenset(work.client_id for work in self.works)

    def render(self, client_id: int | None = None) -> str:
        """The text for a reader bound to ``client_id`` (None: bound to no client, every part whole)."""
        return "".join(_render(part, client_id) for part in self.parts)

    def __str__(self) -> str:
        return self.render(None)


def _render(part: Part, client_id: int | None) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, AboutWork):
        shown = client_id is None or part.work.client_id == client_id
        return part.text if shown else part.hidden
    if client_id is None or all(work.client_id == client_id for work in part.works):
        return " and ".join(work.label() for work in part.works)
    return "works of more than one rights holder"
