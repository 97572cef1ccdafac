"""File names that every file system accepts: Windows, macOS and Linux, any language."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 180
"""Under the common 255-byte limit, with room for a temporary prefix and suffix."""

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}


def safe_part(text: str, *, fallback: str = "untitled") -> str:
    """``text`` made safe as (part of) a file name: no separators, controls or reserved names."""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = " ".join(cleaned.split())  # tabs, newlines, runs of spaces
    cleaned = _FORBIDDEN.sub("_", cleaned)
    cleaned = cleaned.strip(" .")  # Windows drops trailing dots and spaces
    if not cleaned:
        return fallback
    if cleaned.split(".")[0].upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    return cleaned


def track_file_name(artist: str, title: str, source: str, source_id: str, suffix: str) -> str:
    """``<artist> - <title> [<source>-<id>]<suffix>``, shortened to fit ``MAX_NAME_BYTES``."""
    tag = f" [{safe_part(source)}-{safe_part(source_id)}]{suffix}"
    stem = f"{safe_part(artist, fallback='Unknown artist')} - {safe_part(title)}"
    room = MAX_NAME_BYTES - len(tag.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        stem = encoded[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return stem + tag
