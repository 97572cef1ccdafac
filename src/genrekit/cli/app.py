"""The ``genrekit`` application object, its consoles and exit codes, shared by every command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from genrekit import __version__
from genrekit.errors import GenrekitError

app = typer.Typer(
    name="genrekit",
    help="Learn to tell music genres apart from short song previews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

EXIT_FAILURES = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _version(value: bool) -> None:
    if value:
        console.print(f"genrekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """genrekit: collect previews, extract features, explore, train and classify genres."""


def main() -> None:
    """Console entry point: one clear line and a non-zero exit for every expected failure."""
    try:
        app()
    except GenrekitError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
