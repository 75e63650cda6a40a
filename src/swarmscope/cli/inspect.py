"""``swarmscope inspect TORRENT_OR_MAGNET [--json]``: show what a torrent file or magnet link carries.

Invalid or unreadable input prints one line naming the field and the problem and exits with status 1.
So do an empty argument and a URL (``http://…``): nothing is downloaded, only local files are read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from swarmscope.cli.app import app
from swarmscope.cli.text import escaped, plain
from swarmscope.errors import DecodeError, InputError
from swarmscope.wire.magnet import parse_magnet
from swarmscope.wire.metainfo import parse_metainfo

MAX_TORRENT_BYTES = 80_000_000  # libtorrent load_torrent_limits.max_buffer_size
_SUMMARY_KEYS = ("name", "v1", "v2", "total_size", "piece_length", "num_pieces", "num_files")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")  # RFC 3986 scheme, then an authority


def _check_source(source: str) -> None:
    """Refuse an empty argument, and a URL unless a local file has that path.

    Raises:
        InputError: the one line to print.
    """
    if not source.strip():
        raise InputError("inspect: empty argument; give a .torrent file or a magnet: URI")
    url = _URL.match(source)
    if url is None or Path(source).exists():
        return
    scheme = url.group(1).lower()
    if scheme == "file":
        raise InputError("inspect: file:// URLs are not read; give the path itself")
    raise InputError(f"inspect: {scheme}:// URLs are not fetched; download the .torrent first")


def _load(source: str) -> dict[str, Any]:
    """Parse ``source`` (magnet URI or path) into a describe() dict; raise DecodeError/OSError."""
    if source.lower().startswith("magnet:"):
        info = parse_magnet(source).describe()
        info.update(kind="magnet", piece_length=None, num_pieces=None, num_files=None)
        info["private"] = None
        return info
    path = Path(source)
    if path.stat().st_size > MAX_TORRENT_BYTES:
        raise DecodeError(f"torrent: file larger than {MAX_TORRENT_BYTES} bytes")
    info = parse_metainfo(path.read_bytes()).describe()
    info["kind"] = "torrent"
    return info


def _json_out(info: dict[str, Any] | None, error: str | None) -> str:
    if info is None:
        empty = dict.fromkeys((*_SUMMARY_KEYS, "private"))
        return json.dumps({"valid": False, **empty, "trackers": [], "error": error})
    out = {"valid": True, **{k: info.get(k) for k in _SUMMARY_KEYS}}
    out.update(private=info.get("private"), trackers=info.get("trackers", []))
    out.update({k: v for k, v in info.items() if k not in out})
    return json.dumps(out, ensure_ascii=False)


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "B" else f"{value:.2f} {unit} ({n} bytes)"
        value /= 1024
    return f"{n} bytes"


def _human(console: Console, info: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    rows = [
        ("kind", f"{info['kind']} ({info['version']})"),
        ("name", info.get("name") or "-"),
        ("v1 infohash", info.get("v1") or "-"),
        ("v2 infohash", info.get("v2") or "-"),
        ("size", _size(info.get("total_size"))),
    ]
    if info["kind"] == "torrent":
        rows += [
            ("piece length", _size(info["piece_length"])),
            ("pieces", str(info["num_pieces"])),
            ("files", str(info["num_files"])),
            ("private", f"{info['private']} (raw {info['private_raw']!r})"),
        ]
    else:
        rows.append(("peers (x.pe)", ", ".join(info["peers"]) or "-"))
    rows.append(("trackers", "\n".join(info["trackers"]) or "-"))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", plain(value), style=None)
    console.print(table)
    for entry in info.get("files", [])[:50]:
        pad = " [dim](pad)[/dim]" if entry["pad"] else ""
        path = escaped(entry["path"] or info["name"])
        console.print(f"  {entry['length']:>14}  {path}{pad}", highlight=False)
    if len(info.get("files", [])) > 50:
        console.print(f"  … {len(info['files']) - 50} more files")


@app.command()
def inspect(
    source: str = typer.Argument(..., help="Path to a .torrent file, or a magnet: URI."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Show the infohashes, size, pieces, files, trackers and private flag of a torrent or magnet."""
    info: dict[str, Any] | None = None
    error = line = None
    try:
        _check_source(source)
        info = _load(source)
    except InputError as exc:
        error = line = str(exc)
    except DecodeError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"cannot read {source!r}: {exc.strerror or exc}"
    if as_json:
        typer.echo(_json_out(info, error))
    elif info is not None:
        _human(Console(), info)
    else:
        typer.echo(line or f"invalid: {error}", err=True)
    if info is None:
        raise typer.Exit(code=1)
