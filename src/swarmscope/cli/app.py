"""The Typer application object; each ``cli/<command>.py`` module registers its commands on it.

Usage errors (an unknown command or option, a missing argument, a bad option value) print ONE plain line,
``error: <what> (see 'swarmscope <command> --help')``, to standard error and exit with status 1, like
every other bad input (:func:`swarmscope.cli.options.fail`); Typer's default is a Rich box and status 2.
A command group given no command prints its help and exits 0. Help texts are plain text
(``rich_markup_mode=None``): a ``[letters]`` in a help string is shown as written, not taken as markup.

Every argument must be UTF-8 text. Python decodes ``argv`` with ``surrogateescape`` (PEP 383), so a byte
that is not UTF-8 (``--client $'Acme\\xff'``) reaches a command as a lone surrogate (U+DC80..U+DCFF) that
no UTF-8 encoder, and so no store, takes; one check here refuses it for every command, in one line, before
any command runs (a file path too: the store and the audit trail record paths as text).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import Abort

from swarmscope.cli.text import clean


def usage_line(exc: ClickException) -> str:
    """The one-line message of a usage error: cleaned, newlines folded, the command's ``--help`` named."""
    text = " ".join(clean(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if isinstance(exc, UsageError) and ctx is not None else ""
    return f"error: {text}{where}"


def _shown(arg: str) -> str:
    """An argument with its undecodable bytes written as ``\\xff`` (other lone surrogates as ``\\ud800``)."""
    try:
        return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return arg.encode("ascii", "backslashreplace").decode("ascii")


def _undecodable(args: Sequence[str]) -> str | None:
    """Why an argument is not text (a lone surrogate: an undecodable byte, PEP 383), or None."""
    for number, arg in enumerate(args, 1):
        lone = next((ch for ch in arg if "\ud800" <= ch <= "\udfff"), None)
        if lone is not None:
            return f"argument {number} ({clean(_shown(arg))[:60]}): not UTF-8 text"
    return None


class OneLineErrorGroup(TyperGroup):
    """The root command group: usage errors become one line and exit status 1 (see the module docstring)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in ``standalone_mode`` exit with its status (never Typer's status 2)."""
        run = super().main
        undecodable = _undecodable(sys.argv[1:] if args is None else args)
        if undecodable is not None:
            typer.echo(f"error: {undecodable}", err=True)
            sys.exit(1)
        if not standalone_mode:
            return run(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            status = run(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help())
            sys.exit(0)
        except ClickException as exc:
            typer.echo(usage_line(exc), err=True)
            sys.exit(1)
        except Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


app = typer.Typer(
    name="swarmscope",
    help="Watch BitTorrent swarms and record verified evidence of distribution.",
    cls=OneLineErrorGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Watch BitTorrent swarms and record verified evidence of distribution."""
