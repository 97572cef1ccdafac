"""What ``genrekit classify`` prints: a row per track as soon as it is ready, progress on stderr.

Three formats, all streamed: a table (one row per track, columns of fixed width), CSV (one
column per genre's probability, the same columns in every row) and JSON lines (one object per
track, so every line printed is complete even when the run is interrupted). With ``--tags``,
each tagger's top tags are labelled with its name: a line per tagger under the track's row in
the table, a ``tags_<tagger>`` column in CSV, ``"tags": {"<tagger>": [...]}`` in JSON. Text
from outside (paths, genres, tags, reasons) is passed to rich as plain cells or ``Text``, never
as markup.

A track that gets no genre (not music, silent, or unsure) is an answer too: ``"genre": null``
and its ``"reason"`` in JSON, :data:`NO_GENRE` and the reason in the table and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from rich.console import Console
from rich.text import Text

from genrekit.classify_batch import AudioFile, Outcome
from genrekit.predict import MAX_SEGMENTS, TAGGERS, Prediction, Segment

TOP_TAGS = 5
"""Tags shown per track and tagger with ``--tags``."""
NO_GENRE = "unknown"
"""The genre column of a track (or a timeline's segment) that gets no genre."""
FORMATS = ("table", "csv", "json")


class Writer:
    """Prints one track at a time on stdout in one of :data:`FORMATS`."""

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
        # Into a file or pipe every cell is whole; on a terminal each track keeps to one line:
        # a long name, then the last column, are cut with "..." to the terminal's width.
        top_k_shown = min(top_k, len(genres))
        longest_top = sorted(map(len, genres), reverse=True)[:top_k_shown]  # "name 100 %, "
        self.widths = [
            max(5, *(len(f.name) for f in files)),
            max(len(NO_GENRE), *map(len, genres)),
            max(5, sum(longest_top) + 8 * len(longest_top) - 2),
        ]
        self.top_header = f"top {top_k_shown}"
        self.fit = console.is_terminal
        if self.fit:  # the name gets room first, then the top genres (the first is in "genre")
            room = console.width - self.widths[1] - 2 * len(self.widths)
            name = max(16, min(self.widths[0], 48, room - 16))
            self.widths[0], self.widths[2] = name, max(16, min(self.widths[2], room - name))

    def header(self) -> None:
        if self.output == "csv":
            columns = ["file", "genre", "reason", *(f"p_{g}" for g in self.genres)]
            self._csv([*columns, *self._tag_column()])
        elif self.output == "table":
            self._print_row(["track", "genre", self.top_header], header=True)

    def row(self, file: AudioFile, prediction: Prediction) -> None:
        if self.output == "json":
            self._line(self._as_dict(file, prediction))
        elif self.output == "csv":
            p = prediction.probabilities
            probabilities = [f"{p[g]:.4f}" if g in p else "" for g in self.genres]
            cells = [file.name, genre_cell(prediction), prediction.reason or "", *probabilities]
            tags = [";".join(_top_tags(prediction, t)) for t in self._taggers()]
            self._csv([*cells, *tags])
        else:
            top = ", ".join(f"{g} {100 * p:.0f} %" for g, p in prediction.top(self.top_k))
            if prediction.reason:  # in place of the top genres, which follow it in brackets
                top = f"{prediction.reason} ({top})" if top else prediction.reason
            self._print_row([file.name, genre_cell(prediction), top], header=False)
            for tagger in self._taggers():
                shown = _top_tags(prediction, tagger)
                found = prediction.tags.get(tagger, {})
                text = ", ".join(f"{t} {100 * found[t]:.0f} %" for t in shown) or "none"
                self._print_line(f"  tags {tagger}: {text}")
            if self.segments:
                line = Text(timeline_line(prediction.segments), style="dim")
                self.console.print(line, soft_wrap=True)

    def failed(self, outcome: Outcome) -> None:
        """A failure in the stream too, for JSON lines (CSV and the table list it on stderr)."""
        if self.output == "json":
            self._line({"file": outcome.file.name, "error": outcome.error})

    def _as_dict(self, file: AudioFile, prediction: Prediction) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": file.name,
            "genre": prediction.genre,
            **({"reason": prediction.reason} if prediction.reason else {}),
            "probabilities": {g: round(p, 4) for g, p in prediction.probabilities.items()},
            "seconds": round(prediction.duration or 0.0, 2),
        }
        if prediction.damage:
            data["warning"] = damage_text(prediction)
        if self.segments:
            data["segments"] = [
                {
                    "start": round(s.start, 2),
                    "end": round(s.end, 2),
                    "genre": s.genre or None,
                    **({"reason": s.reason} if s.reason else {}),
                }
                for s in prediction.segments
            ]
        if self.tags:
            data["tags"] = {
                tagger: [
                    {"tag": t, "probability": round(prediction.tags[tagger][t], 4)}
                    for t in _top_tags(prediction, tagger)
                ]
                for tagger in self._taggers()
            }
        return data

    def _print_row(self, cells: list[str], header: bool) -> None:
        """One line: every column but the last padded to its width, the genre in bold."""
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            width = None if last else self.widths[i]
            if self.fit and width is not None:
                cell = _cut_middle(cell, width) if i == 0 else _cut(cell, width)
            line.append(cell if last else cell.ljust(width or 0), style=_style(i, header))
            if not last:
                line.append("  ")
        if self.fit:
            line.truncate(self.console.width, overflow="ellipsis")
            self.console.print(line, soft_wrap=False, crop=True)
        else:
            self._out(line.plain.rstrip() + "\n")

    def _print_line(self, text: str) -> None:
        """A dim line under a track's row, cut to the terminal's width."""
        line = Text(text, style="dim", no_wrap=True, overflow="ellipsis")
        if self.fit:
            line.truncate(self.console.width, overflow="ellipsis")
            self.console.print(line, soft_wrap=False, crop=True)
        else:
            self._out(text + "\n")

    def _taggers(self) -> tuple[str, ...]:
        return TAGGERS if self.tags else ()

    def _tag_column(self) -> list[str]:
        return [f"tags_{tagger}" for tagger in self._taggers()]

    def _csv(self, cells: list[str]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(cells)
        self._out(text.getvalue())

    def _line(self, data: dict[str, Any]) -> None:
        self._out(json.dumps(data, ensure_ascii=False) + "\n")

    def _out(self, text: str) -> None:
        self.console.file.write(text)
        self.console.file.flush()


def genre_cell(prediction: Prediction) -> str:
    """The genre, or :data:`NO_GENRE` when the track gets none."""
    return prediction.genre or NO_GENRE


def _top_tags(prediction: Prediction, tagger: str) -> list[str]:
    return list(prediction.tags.get(tagger, {}))[:TOP_TAGS]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _cut_middle(name: str, width: int) -> str:
    """A path cut in its middle, so both its folder and its file name stay recognisable."""
    if len(name) <= width:
        return name
    head = (width - 1) // 3
    return name[:head] + "…" + name[len(name) - (width - 1 - head) :]


def _style(column: int, header: bool) -> str:
    return "bold" if header or column == 1 else ""


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


def damage_text(prediction: Prediction) -> str:
    seconds = prediction.duration or 0.0
    return f"damaged ({prediction.damage}); classified from the {seconds:.1f} s that decoded"


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
        ok = self.done - self.failed
        failed = f"; {self.failed} failed" if self.failed else ""
        if self.unknown:  # answers too, not failures: named as the rows name them
            failed = f"; {self.unknown} with no genre ({NO_GENRE}, reason given){failed}"
        if interrupted:
            return (
                f"interrupted: {ok} of {self.total} tracks classified{failed} (printed above); "
                f"{self.total - self.done} not done"
            )
        return f"classified {ok} of {self.total} tracks in {elapsed:.1f} s{failed}"
