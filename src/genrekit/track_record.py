"""The record of one classified input: what every output says about it.

``genrekit classify`` prints it as a table row, a CSV row or a JSON line, and ``genrekit serve``
answers it as JSON: both build it here, so the facts (and the JSON object) are the same. An
input ends one of three ways, its ``status``: :data:`CLASSIFIED` (a genre), :data:`NO_GENRE` (no
genre, and the ``reason``; an answer, not a failure) or :data:`FAILED` (the one-line ``reason``
it could not be classified).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genrekit.classify_batch import Outcome
from genrekit.predict import TAGGERS, Segment

TOP_TAGS = 5
"""Tags given per track and tagger when tags are asked for."""
NO_GENRE = "unknown"
"""The status of a track that gets no genre."""
FAILED = "failed"
"""The status of an input that could not be classified."""
CLASSIFIED = "classified"


@dataclass(frozen=True)
class TrackRecord:
    """What every output says about one input."""

    file: str
    status: str  # CLASSIFIED, NO_GENRE or FAILED
    genre: str | None
    reason: str | None
    damage: str | None
    seconds: float | None
    probabilities: dict[str, float] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    tags: dict[str, dict[str, float]] = field(default_factory=dict)

    @staticmethod
    def of(outcome: Outcome) -> TrackRecord:
        found = outcome.prediction
        if found is None:
            reason = outcome.error or "failed"
            return TrackRecord(outcome.file.name, FAILED, None, reason, None, None)
        return TrackRecord(
            outcome.file.name,
            CLASSIFIED if found.genre is not None else NO_GENRE,
            found.genre,
            found.reason,
            found.damage,
            found.duration,
            found.probabilities,
            found.segments,
            found.tags,
        )

    def top_tags(self, tagger: str) -> list[tuple[str, float]]:
        """The tagger's :data:`TOP_TAGS` most likely tags, most likely first."""
        return list(self.tags.get(tagger, {}).items())[:TOP_TAGS]


def as_json(record: TrackRecord, *, segments: bool = False, tags: bool = False) -> dict[str, Any]:
    """The JSON object of a record: the same keys whatever its status (``segments`` and ``tags``
    when asked for), ``None`` (null) where there is nothing to say, numbers rounded."""
    data: dict[str, Any] = {
        "file": record.file,
        "status": record.status,
        "genre": record.genre,
        "reason": record.reason,
        "damage": record.damage,
        "seconds": None if record.seconds is None else round(record.seconds, 2),
        "probabilities": {g: round(p, 4) for g, p in record.probabilities.items()},
    }
    if segments:
        data["segments"] = [
            {
                "start": round(s.start, 2),
                "end": round(s.end, 2),
                "genre": s.genre or None,
                "reason": s.reason,
            }
            for s in record.segments
        ]
    if tags:
        data["tags"] = {
            tagger: [{"tag": t, "probability": round(p, 4)} for t, p in record.top_tags(tagger)]
            for tagger in TAGGERS
        }
    return data
