"""The ``genrekit`` application object, its consoles and exit codes, shared by every command."""

from __future__ import annotations

import sys
import unicodedata
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from genrekit import __version__, extras
from genrekit.errors import GenrekitError, GenrekitWarning, ParameterError

app = typer.Typer(
    name="genrekit",
    help="Learn to tell music genres apart from short song previews.",
    epilog=(
        "Exit status, the same for every command: 0 everything done; 1 some inputs failed (each "
        "listed with its reason); 2 usage error, or nothing could be done; 130 interrupted "
        "(Ctrl-C; finished work is kept)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors: an error is one "Error: ..." line naming the option,
    # not a framed box whose text wraps, and help shows no Python types as metavars.
    rich_markup_mode=None,
)
# Text is text: paths, titles, artists, genre labels and error messages come from users and web
# services, and "[deezer-123]", "[/red]" or ":x:" in them must print as written. So neither console
# reads markup or emoji codes, nor colours numbers and paths on its own; style is given explicitly
# (`style=`, :func:`styled`, rich.text.Text), never spelled inside a string. Error lines are never
# wrapped: one error, one line, whatever the width (tables still fit the terminal).

_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a terminal would act on or hide rather than show: control characters
(ESC, BEL, CR, newline), format characters (right-to-left overrides, zero-width spaces),
surrogates (a file name's bytes that are not UTF-8) and line and paragraph separators."""


def visible(text: object, *, newlines: bool = False) -> str:
    """``text`` with every character a terminal would act on or hide written as Python writes it
    in a string (``\\x1b``, ``\\r``, ``\\n``, ``\\u202e``; a byte that was not UTF-8 as
    ``\\xff``), so a file name like ``"\\x1b[31mred.mp3"`` prints as written, not in red.
    ``newlines`` keeps line breaks (for text that is several lines on purpose).

    Every path and every string from outside goes through it on the way to a terminal: the two
    consoles below apply it to all they print, :func:`styled` and classify's table before
    laying out. CSV and JSON keep the true names (JSON escapes control characters itself).
    """
    text = str(text)
    if text.isprintable():  # nearly always: no copy
        return text
    return "".join(
        c
        if c.isprintable() or unicodedata.category(c) not in _HIDDEN or (newlines and c == "\n")
        else _escaped(c)
        for c in text
    )


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # Python's stand-in for the byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


class _Console(Console):
    """A rich console that never lets a control character of the text it prints through: a
    string is made :func:`visible` before rich lays it out, and whatever reaches the output
    (from a ``Text``, a table, a progress column) is checked again, line breaks kept. rich's
    own escape codes (styles, cursor moves) are not text and pass."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text, newlines=True), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and not segment.text.isprintable() and segment.text != "\n":
                segment = Segment(visible(segment.text, newlines=True), segment.style)
            yield segment


console = _Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
errors = _Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

EXIT_FAILURES = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def styled(mark: str, style: str, text: object) -> Text:
    """``mark`` in ``style``, a space, then ``text`` as written (never read as markup), on one
    line: its control characters, line breaks included, are shown :func:`visible`."""
    return Text.assemble((mark, style), " ", visible(text))


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
    warnings.showwarning = _show_warning
    try:
        app()
    except GenrekitError as exc:
        text = exc.with_flag() if isinstance(exc, ParameterError) else str(exc)
        errors.print(styled("error:", "red", text))
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except ModuleNotFoundError as exc:
        # A part of an optional extra this install lacks: name the extra, not a traceback.
        if not extras.known(exc.name):
            raise
        module = str(exc.name).split(".")[0]
        errors.print(styled("error:", "red", f"this command needs {extras.install_hint([module])}"))
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        # The system refused something no check foresaw (a full disk, a permission, a vanished
        # folder): that is the machine's state, not a bug to trace back, so one line says which.
        errors.print(styled("error:", "red", os_error_text(exc)))
        sys.exit(EXIT_ERROR)


def output_path(value: str) -> Path:
    """``-o``'s value as a path (typer's ``parser=``). An empty one, as an unset shell variable
    gives, is refused: as a path it would mean the current folder."""
    if not value:
        # Not a ValueError: typer would wrap that into a usage message of several lines.
        raise GenrekitError(
            "-o/--out is empty (an unset shell variable?); give the folder to write"
        )
    return Path(value)


def fail(message: str) -> typer.Exit:
    """Print one ``error:`` line for a batch that could do nothing; raise the returned Exit(2).

    (An error raised as a :class:`GenrekitError` gets the same line from :func:`main`.)"""
    errors.print(styled("error:", "red", message))
    return typer.Exit(EXIT_ERROR)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """genrekit's own warnings as one ``warning:`` line; others as Python shows them."""
    if issubclass(category, GenrekitWarning):
        errors.print(styled("warning:", "yellow", message))
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def os_error_text(exc: OSError) -> str:
    """``path: reason`` for an OSError, as ``cp`` or ``git`` would say it."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(files)}: {reason}" if files else reason
