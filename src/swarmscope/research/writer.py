"""Write a research export directory: one CSV per table, ``swarms.csv``, the plots and the README.

The directory is built beside ``out`` and renamed into place, so an interrupted export leaves nothing
under the requested name. CSV: RFC 4180, UTF-8, ``\\r\\n`` line ends; a suppressed cell has empty counts
and ``suppressed`` 1; shares are fractions of the group's units with 4 decimals.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from swarmscope.errors import InputError
from swarmscope.research.cells import Table, scrub
from swarmscope.research.plots import plot_tables
from swarmscope.research.readme import StudyFacts, readme_text

COUNT_COLUMNS = ("addresses", "peers", "share", "suppressed")


def table_csv(table: Table) -> str:
    """One table as CSV text (header, then its rows in order)."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow([*table.group_columns, table.label_column, *COUNT_COLUMNS])
    for r in table.rows:
        share = "" if r.share is None else f"{r.share:.4f}"
        counts = ["", "", "", "1"] if r.suppressed else [str(r.addresses), str(r.peers), share, "0"]
        out.writerow([*r.group, r.label, *counts])
    return buffer.getvalue()


def swarms_csv(names: Mapping[str, str]) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(["swarm", "name"])
    out.writerows([infohash, scrub(name)] for infohash, name in sorted(names.items()))
    return buffer.getvalue()


def write_study(
    out: Path, tables: Sequence[Table], names: Mapping[str, str], facts: StudyFacts
) -> list[Path]:
    """Write the export into the new directory ``out``; returns its files (sorted).

    Raises:
        InputError: ``out`` exists and is not an empty directory.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out}: exists and is not an empty directory (choose a new --out)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for table in tables:
            (tmp / f"{table.name}.csv").write_text(table_csv(table), encoding="utf-8", newline="")
        (tmp / "swarms.csv").write_text(swarms_csv(names), encoding="utf-8", newline="")
        plot_tables(list(tables), tmp)
        (tmp / "README.md").write_text(readme_text(facts, tables), encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())


def zip_study(directory: Path) -> bytes:
    """The export directory as one ZIP archive (its files at the top level, sorted)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            archive.write(path, path.name)
    return buffer.getvalue()
