"""The documented canonical layout, written from the declarations (:mod:`swarmscope.evidence.declarations`):
the "Schema" and "Versions" paragraphs of :mod:`swarmscope.evidence.canonical`'s docstring, so that the
prose an opposing expert reads (``help(swarmscope.evidence.canonical)``) is the table the code encodes
and decodes with, and adding a field needs no edit here.

Notation of the tags: ``s`` text, ``i`` integer, ``n or s`` text or None, ``l of i`` a list of integers,
``d of i`` a dict of integers, ``l of r (block_proof)`` a list of nested records, ``n or r`` a nested
record or None; an enum field lists its values (``i (0 listed, 1 connected, ...)``).
"""

from __future__ import annotations

from swarmscope.evidence.record_spec import FieldSpec, RecordSpec


def tags_text(tags: tuple[str, ...]) -> str:
    """One field's allowed tags in the documented notation (module docstring)."""
    parts = []
    for tag in tags:
        container, _, inner = tag.partition(":")
        if container in ("l", "d"):
            kind, _, name = inner.partition(":")
            parts.append(f"{container} of {kind}" + (f" ({name})" if name else ""))
        else:
            parts.append(container)
    return " or ".join(parts)


def _group_text(group: list[FieldSpec]) -> str:
    text = f"``{' '.join(f.name for f in group)}`` {tags_text(group[0].tags)}"
    if group[0].choices is not None:
        text += " (" + ", ".join(f"{m.value} {m.name.lower()}" for m in group[0].choices) + ")"
    return text


def record_text(spec: RecordSpec) -> str:
    """``kind: ``names`` tags; ...`` for one record type: its fields grouped by equal tags (and enum), in
    the order each group first appears."""
    groups: dict[tuple[tuple[str, ...], object], list[FieldSpec]] = {}
    for f in spec.fields:
        groups.setdefault((f.tags, f.choices), []).append(f)
    return f"{spec.kind}: " + "; ".join(_group_text(group) for group in groups.values()) + "."


def schema_text(specs: tuple[RecordSpec, ...]) -> str:
    """The "Schema" paragraph: every record type's fields in the newest version, with their tags."""
    return " ".join(record_text(spec) for spec in specs)


def versions_text(specs: tuple[RecordSpec, ...], latest: dict[str, int]) -> str:
    """The "Versions" paragraph: the newest version of each record type and which fields each version
    after 1 added, with the value an older record holds for them. ``latest``: newest version by kind."""
    added: dict[int, list[str]] = {}
    for spec in specs:
        for f in spec.fields:
            if f.since > 1:
                added.setdefault(f.since, []).append(f"{spec.kind} ``{f.name}`` (older: {f.before!r})")
    newest = ", ".join(f"{kind} {version}" for kind, version in latest.items())
    history = " ".join(
        f"Version {version} added {', '.join(names)}." for version, names in sorted(added.items())
    )
    return f"Newest version of each record type: {newest}. " + (
        history or "Every field has been there since version 1."
    )
