"""Owned libraries that start a process or fetch a URL by themselves (docs/architecture.md, rule 6
"Connections"), refused in src/ like prometheus-client's ``push_to_gateway``:

- click/typer's ``launch`` (a browser or file manager), ``edit`` (``$EDITOR``), ``echo_via_pager``
  (``$PAGER``): a process chosen by the environment;
- uvicorn with ``reload``/``workers`` (a reloader or worker processes of their own);
- matplotlib's animation writers (ffmpeg, ImageMagick) and ``usetex`` (latex, dvipng);
- weasyprint's ``default_url_fetcher`` (fetches any URL of a document), and ``HTML``/``CSS`` made without
  ``url_fetcher=`` (the default fetcher then), outside ``cases/pdf.py``, which hands them a refusing one.
"""

from __future__ import annotations

import ast

from tests.architecture_rules import Module

LAUNCHERS = {
    "typer.launch", "click.launch", "click.termui.launch", "click.edit", "click.termui.edit",
    "click.echo_via_pager", "click.termui.echo_via_pager",
}  # fmt: skip
UVICORN_STARTERS = {"uvicorn.run", "uvicorn.Config", "uvicorn.config.Config", "uvicorn.main.run"}
PROCESS_KEYWORDS = {"reload", "workers"}
WEASYPRINT_DOCUMENTS = {"weasyprint.HTML", "weasyprint.CSS"}
URL_FETCHER_OWNERS = {"cases/pdf.py"}  # hands weasyprint a fetcher that refuses every URL


def launcher_problems(mod: Module) -> list[str]:
    """Problem lines of ``mod``: names that start a process or fetch a URL through an owned library."""
    rel = mod.path.relative_to(mod.root).as_posix()
    problems = []
    for node, name, _ in mod.references():
        if name in LAUNCHERS or (name.startswith("matplotlib.animation.") and name.endswith("Writer")):
            problems.append(f"line {node.lineno}: uses {name}, which starts a process")
        elif "default_url_fetcher" in name.split(".") and rel not in URL_FETCHER_OWNERS:
            problems.append(f"line {node.lineno}: uses {name}, which fetches any URL")
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call):
            problems += _call_problems(mod, node)
        elif isinstance(node, ast.Constant) and node.value == "text.usetex":
            problems.append(f"line {node.lineno}: sets text.usetex, which starts latex")
    return problems


def _call_problems(mod: Module, call: ast.Call) -> list[str]:
    name = mod.qualify(call.func) or ""
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    problems = []
    if name in UVICORN_STARTERS and any(_set(keywords.get(k)) for k in PROCESS_KEYWORDS):
        problems.append(f"line {call.lineno}: {name}() with reload/workers starts processes")
    if name in WEASYPRINT_DOCUMENTS and "url_fetcher" not in keywords:
        problems.append(f"line {call.lineno}: {name}() without url_fetcher= fetches any URL it names")
    if _set(keywords.get("usetex")):
        problems.append(f"line {call.lineno}: usetex= starts latex")
    return problems


def _set(value: ast.expr | None) -> bool:
    """A keyword given, other than ``False``/``None``/``0``/``1`` (one worker is the server itself)."""
    if not isinstance(value, ast.Constant):
        return value is not None
    given = value.value
    return not (given is None or given is False or (type(given) is int and given in (0, 1)))
