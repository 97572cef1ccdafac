"""What ``genrekit classify`` prints: a row per input as soon as it is ready, progress on stderr.

Three formats, all streamed, each with exactly one row (or object) per input in the order of the
inputs, and the same facts in each: a table (a track per line, the answer's columns never cut),
CSV (the same columns in every row) and JSON lines (one object per input, the same keys in every
object, so every line printed is complete even when the run is interrupted).

An input ends one of three ways, its ``status``: ``classified`` (a genre), ``unknown`` (no genre,
and the ``reason``: not music, silent, or under ``--min-confidence``; an answer, not a failure)
or ``failed`` (the one-line ``reason`` it could not be classified; also on stderr). A damaged
file that was classified from the part that decodes says so in every format (``damage``). With
``--tags``, each tagger's top tags with their probabilities, labelled by tagger.

Text from outside (paths, genres, tags, reasons) reaches the terminal :func:`visible`: a control
character in a file name is shown escaped, never acted on. CSV and JSON keep the true names (JSON
escapes every such character itself; so does CSV on a terminal).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
import time
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from genrekit.classify_batch import AudioFile, Outcome
from genrekit.cli.app import visible
from genrekit.predict import MAX_SEGMENTS, TAGGERS, Segment, percent
from genrekit.track_record import FAILED, NO_GENRE, TrackRecord, as_json

FORMATS = ("table", "csv", "json")
MIN_NAME = 16
"""The fewest cells a track's name keeps beside its answer on a terminal; fewer, and the name
gets a line of its own above its answer."""
Row = TrackRecord  # what every format says about one input (the library's record)


class Writer:
    """Prints one input at a time on stdout in one of :data:`FORMATS`."""

    def __init__(
        self,
        console: Console,
        output: str,
        *,
        files: list[AudioFile],
        genres: list[str],
        top_k: int,
        segments: bool,
        tags: bool,
    ):
        self.console, self.output = console, output
        self.genres, self.top_k, self.segments, self.tags = genres, top_k, segments, tags
        # Column widths are fixed before the first row, so rows printed one at a time line up.
        # Into a file or pipe every cell is whole. On a terminal the answer (genre, top genres)
        # is never cut: the name is cut in its middle to the room left, and where too little is
        # left, it gets a line of its own; a reason longer than its column wraps under itself.
        top_k_shown = min(top_k, len(genres))
        longest_top = sorted(map(cell_len, genres), reverse=True)[:top_k_shown]
        # The widest top genres: the longest names, the first at most "100 %", the second at
        # most "50 %" (probabilities add up to 1), ...; ", " between them.
        numbers = [len(percent(1 / (i + 1))) + 1 for i in range(len(longest_top))]
        top_width = max(5, sum(longest_top) + sum(numbers) + 2 * (len(longest_top) - 1))
        self.genre_width = max(cell_len(NO_GENRE), cell_len(FAILED), *map(cell_len, genres))
        self.name_width = max([5, *(cell_len(visible(f.name)) for f in files)])
        self.top_header = f"top {top_k_shown}"
        self.fit = console.is_terminal
        self.fold = False
        if self.fit:
            room = console.width - self.genre_width - top_width - 4
            if room >= min(self.name_width, MIN_NAME):
                self.name_width = min(self.name_width, room)
            else:
                self.fold = True

    def header(self) -> None:
        if self.output == "csv":
            columns = ["file", "status", "genre", "reason", "damage", "seconds"]
            self._csv([*columns, *(f"p_{g}" for g in self.genres), *self._tag_columns()])
        elif self.output == "table":
            self._table_row("track", "genre", self.top_header, header=True)

    def write(self, outcome: Outcome) -> None:
        """The row (or object) of one input, whatever became of it."""
        row = Row.of(outcome)
        if self.output == "json":
            self._json(self._as_dict(row))
        elif self.output == "csv":
            self._csv(self._csv_cells(row))
        else:
            self._table(row)

    def _as_dict(self, row: Row) -> dict[str, Any]:
        return as_json(row, segments=self.segments, tags=self.tags)

    def _csv_cells(self, row: Row) -> list[str]:
        p = row.probabilities
        seconds = "" if row.seconds is None else f"{row.seconds:.2f}"
        cells = [row.file, row.status, row.genre or "", row.reason or "", row.damage or ""]
        probabilities = [f"{p[g]:.4f}" if g in p else "" for g in self.genres]
        tags = [
            ";".join(f"{t}:{q:.4f}" for t, q in _top_tags(row, tagger))
            for tagger in self._taggers()
        ]
        return [*cells, seconds, *probabilities, *tags]

    def _table(self, row: Row) -> None:
        if row.status == FAILED:
            answer = row.reason or ""
        else:
            top = list(row.probabilities.items())[: self.top_k]
            answer = ", ".join(f"{g} {percent(p)}" for g, p in top)
            if row.reason:  # in place of the top genres, which follow it in brackets
                answer = f"{row.reason} ({answer})" if answer else row.reason
        self._table_row(row.file, row.genre or row.status, answer, header=False)
        if row.damage:
            self._under(damage_text(row.damage, row.seconds), "yellow", whole=True)
        for tagger in self._taggers() if row.status != FAILED else ():
            shown = ", ".join(f"{t} {percent(p)}" for t, p in _top_tags(row, tagger))
            self._under(f"tags {tagger}: {shown or 'none'}", "dim", whole=False)
        if self.segments and row.status != FAILED:
            self._under(timeline_line(row.segments).strip(), "dim", whole=None)

    def _table_row(self, name: str, genre: str, answer: str, *, header: bool) -> None:
        """A track's line: its name, its genre in bold, and the rest of the answer."""
        name, genre, answer = visible(name), visible(genre), visible(answer)
        genre_style = "bold red" if genre == FAILED and not header else "bold"
        text_style = "bold" if header else ""
        if not self.fit:
            line = f"{_pad(name, self.name_width)}  {_pad(genre, self.genre_width)}  {answer}"
            self._out(line.rstrip() + "\n")
            return
        width = self.console.width
        if self.fold:  # the name on a line of its own, the answer under it
            self._print(Text(_cut_middle(name, width), style=text_style))
            lead = Text("  ")
        else:
            lead = Text(
                _pad(_cut_middle(name, self.name_width), self.name_width) + "  ", text_style
            )
        lead.append(_pad(genre, self.genre_width) + "  ", style=genre_style)
        room = max(8, width - lead.cell_len)
        lines = _wrap(answer, room)
        self._print(lead + Text(lines[0], style=text_style))
        for more in lines[1:]:  # a long reason wraps under its column, whole
            self._print(Text(" " * lead.cell_len + more))

    def _under(self, text: str, style: str, *, whole: bool | None) -> None:
        """A line under a track's row: folded to the terminal (``whole``), cut to it (False), or
        left to the terminal (None)."""
        text = "  " + visible(text)
        if not self.fit:
            self._out(text + "\n")
        elif whole is None:
            self.console.print(Text(text, style=style), soft_wrap=True)
        elif whole:
            for line in _wrap(text, self.console.width, indent="    "):
                self._print(Text(line, style=style))
        else:
            self._print(Text(text, style=style))

    def _print(self, line: Text) -> None:
        line.no_wrap, line.overflow = True, "ellipsis"
        line.truncate(self.console.width, overflow="ellipsis")
        self.console.print(line, soft_wrap=False, crop=True)

    def _taggers(self) -> tuple[str, ...]:
        return TAGGERS if self.tags else ()

    def _tag_columns(self) -> list[str]:
        return [f"tags_{tagger}" for tagger in self._taggers()]

    def _csv(self, cells: list[str]) -> None:
        if self.console.is_terminal:  # for eyes: a name's escape codes shown, not run
            cells = [visible(c) for c in cells]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(cells)
        self._out(text.getvalue())

    def _json(self, data: dict[str, Any]) -> None:
        line = json.dumps(data, ensure_ascii=False)
        if not line.isprintable():  # DEL, C1 controls, bidi overrides: escaped as JSON allows
            line = "".join(c if visible(c) == c else json.dumps(c)[1:-1] for c in line)
        self._out(line + "\n")

    def _out(self, text: str) -> None:
        file = self.console.file
        try:
            file.write(text)
        except UnicodeEncodeError:  # a name's bytes that are not UTF-8: written as they are
            buffer = getattr(file, "buffer", None)
            if buffer is None:
                file.write(visible(text, newlines=True))
            else:
                file.flush()
                encoding = getattr(file, "encoding", None) or "utf-8"
                buffer.write(text.encode(encoding, "surrogateescape"))
        file.flush()


def _top_tags(row: Row, tagger: str) -> list[tuple[str, float]]:
    return row.top_tags(tagger)


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` in lines of ``width``, broken between words, never inside "68 %"."""
    kept = text.replace(" %", "\u00a0%")  # textwrap breaks at ASCII spaces only
    lines = textwrap.wrap(kept, width, subsequent_indent=indent, break_on_hyphens=False)
    return [line.replace("\u00a0%", " %") for line in lines] or [""]


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def _cut_middle(name: str, width: int) -> str:
    """A path cut in its middle, so both its folder and its file name stay recognisable."""
    if cell_len(name) <= width:
        return name
    head = _cells(name, (width - 1) // 3)
    tail = _cells(name[::-1], width - 1 - cell_len(head))[::-1]
    return head + "…" + tail


def _cells(text: str, width: int) -> str:
    """The longest start of ``text`` that fits in ``width`` cells."""
    taken = 0
    for i, char in enumerate(text):
        taken += cell_len(char)
        if taken > width:
            return text[:i]
    return text


def timeline_line(segments: list[Segment]) -> str:
    """``timeline, 32 segments of 9.4 s (at most 32): 0:00 metal, 1:34 not music, ...``: where
    the genre changes, silence and segments of no genre included (named by their reason's
    kind: "not music", "too quiet", "unsure")."""
    if not segments:
        return "  timeline: none"
    size = segments[0].end - segments[0].start
    changes = []
    previous = None
    for s in segments:
        label = "silence" if s.silent else s.genre or (s.reason or NO_GENRE).split(":")[0]
        if label != previous:
            changes.append(f"{_clock(s.start)} {label}")
            previous = label
    count = f"{len(segments)} segment{'s' if len(segments) != 1 else ''}"
    return f"  timeline, {count} of {size:.1f} s (at most {MAX_SEGMENTS}): {', '.join(changes)}"


def damage_text(damage: str, seconds: float | None) -> str:
    """What a damaged file's answer was judged from, for people."""
    return f"damaged ({damage}); classified from the {seconds or 0.0:.1f} s that decoded"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


class Status:
    """A one-line progress count on stderr, redrawn in place; only on a terminal."""

    def __init__(self, console: Console, total: int):
        self.console, self.total = console, total
        self.done = self.failed = self.unknown = 0
        self.started = time.perf_counter()
        self._shown = False

    def clear(self) -> None:
        if self._shown:
            self.console.file.write("\r\x1b[K")
            self.console.file.flush()
            self._shown = False

    def advance(self, failed: bool, unknown: bool = False) -> None:
        self.done += 1
        self.failed += failed
        self.unknown += unknown
        self.draw()

    def draw(self) -> None:
        if not self.console.is_terminal:
            return
        elapsed = time.perf_counter() - self.started
        rate = f", {self.done / elapsed:.1f} tracks/s" if self.done and elapsed > 0 else ""
        failed = f", {self.failed} failed" if self.failed else ""
        self.clear()
        self.console.file.write(f"classify {self.done}/{self.total}{rate}{failed}")
        self.console.file.flush()
        self._shown = True

    def summary(self, interrupted: bool) -> str:
        elapsed = time.perf_counter() - self.started
        ok = self.done - self.failed - self.unknown  # as their status says: "classified"
        failed = f"; {self.failed} failed" if self.failed else ""
        if self.unknown:  # answers too, not failures: named as the rows name them
            failed = f"; {self.unknown} with no genre ({NO_GENRE}, reason given){failed}"
        if interrupted:
            return (
                f"interrupted: {ok} of {self.total} tracks classified{failed} (printed above); "
                f"{self.total - self.done} not done"
            )
        return f"classified {ok} of {self.total} tracks in {elapsed:.1f} s{failed}"
