"""Bundle check of IP attribution: every dataset a record cites is described, every flag has a source.

``attribution/datasets.json`` (format in :mod:`swarmscope.evidence.bundle.datasets`) must parse, each
entry well formed and sorted by SHA-256; every SHA-256 named by an attribution record must have an entry
(otherwise the problem names the record); every flag of a record must be one a cited dataset can raise
(a list file of that flag's kind, or a GeoIP2-Anonymous-IP database). The records themselves decode,
chain and seal like every other record (:mod:`swarmscope.evidence.bundle.verify`), and
``records/attributions.jsonl`` is re-derived with the other views.

Source: README "Export and verify" (attribution dataset fingerprints; verify needs nothing but the bundle);
README "The legal workflow" (dataset fingerprint and flags per attribution).
"""

from __future__ import annotations

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import CheckResult, Context, count_problems
from swarmscope.evidence.bundle.datasets import FLAG_SOURCES, parse_datasets
from swarmscope.evidence.bundle.exhibits import ExhibitInput
from swarmscope.evidence.records import Attribution

CHECK = "attribution"


def _check_record(ctx: Context, index: int, a: Attribution, kinds: dict[str, str]) -> None:
    """One record: cited datasets described; flags known and raisable by a cited dataset."""
    missing = [sha for sha in a.datasets if sha not in kinds]
    for sha in missing:
        ctx.problem(
            CHECK, b.DATASETS, f"cites dataset sha256 {sha[:64]}, which datasets.json does not hold", index
        )
    cited = {kinds[sha] for sha in a.datasets if sha in kinds}
    for flag in a.flags:
        if flag not in FLAG_SOURCES:
            ctx.problem(CHECK, b.LEDGER, f"unknown flag {flag[:40]!r} (expected hosting, vpn or tor)", index)
        elif not missing and not cited & set(FLAG_SOURCES[flag]):
            ctx.problem(
                CHECK,
                b.DATASETS,
                f"flag {flag!r} but no cited dataset can raise it (kinds: {sorted(cited)})",
                index,
            )


def check_attribution(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """datasets.json parses; every attribution's datasets are in it; every flag has a cited source."""
    entries, defects = parse_datasets(ctx.get(b.DATASETS))
    for message in defects:
        ctx.problem(CHECK, b.DATASETS, message)
    kinds = {str(e["sha256"]): str(e["kind"]) for e in entries}
    for item in exhibit.attributions:
        if isinstance(item.record, Attribution):
            _check_record(ctx, item.index, item.record, kinds)
    n = count_problems(ctx, CHECK)
    detail = f"{len(exhibit.attributions)} attribution records, {len(entries)} dataset fingerprints"
    return CheckResult(CHECK, n == 0, detail + ("" if n == 0 else f", {n} problems"))
