"""Names from outside text: the one place where a label, id or title becomes (part of) a path.

Every writer (``fetch``, ``import --copy``, ``extract --images``) builds its paths here, so text
from a web service, a CSV file or a folder name can never leave the output folder: a name is one
path component with no separator, control character or reserved name, at most
``MAX_NAME_BYTES`` long (longer text is cut and given a stable hash, so two long labels stay two
names), and :func:`path_inside` refuses any path that would resolve outside its root. Genre
labels are normalized (:func:`normalize_label`) wherever they enter a catalog or store, so NFC
and NFD spellings of "café" are one class there as in the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from genrekit.errors import ParameterError

MAX_NAME_BYTES = 180
"""Under the common 255-byte limit, with room for a temporary prefix and suffix."""
MAX_TAG_BYTES = 64
"""The most of a name's ``[source-id]`` tag that an id may take."""

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_HASH_CHARS = 8
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` that can be encoded as UTF-8: each lone surrogate becomes U+FFFD.

    JSON may spell one (``"\\ud800"``), and a file name or argument that is not valid UTF-8
    reaches Python as one per bad byte; SQLite, file names and the terminal all refuse them.
    """
    if _SURROGATES.search(text) is None:
        return text
    # UTF-16 joins the halves of a pair that arrived split, and replaces the lone ones.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


_ESCAPED_BYTES = re.compile(r"[\udc80-\udcff]")
NOT_UTF8 = "its name is not valid UTF-8 (shown with \\xNN for the bad bytes); rename it"
"""Why a file whose name is not UTF-8 (e.g. Latin-1 from an old zip) is skipped: the catalog,
the store's index and the terminal all need text."""


def is_utf8(name: str | os.PathLike[str]) -> bool:
    """True if a name or path is valid text: no byte that was not UTF-8, no lone surrogate."""
    return _SURROGATES.search(os.fspath(name)) is None


def shown(name: str | os.PathLike[str]) -> str:
    """A name or path as text that can be printed and stored: each byte that was not UTF-8
    (Python keeps it as U+DC80..U+DCFF) as ``\\xNN``, as ``ls -b`` shows it."""
    text = os.fspath(name)
    if is_utf8(text):
        return text
    return valid_text(_ESCAPED_BYTES.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text))


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def normalize_label(label: str) -> str:
    """A genre label as stored: valid Unicode in NFC, control characters and runs of spaces made
    one space, no invisible format character (e.g. U+200B) at either end.

    ``normalize_label("cafe\\u0301") == normalize_label("caf\\u00e9")``; the label keeps its
    slashes and case (FMA's ``Old-Time / Historic`` stays that label; its folder is made by
    :func:`label_folder`). A label with no visible character is ``""`` (refused as blank).
    """
    text = unicodedata.normalize("NFC", valid_text(label))
    text = " ".join(_CONTROLS.sub(" ", text).split())
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def safe_part(text: str, *, fallback: str = "untitled") -> str:
    """``text`` made safe as (part of) a file name: no separators, controls or reserved names.

    The result may still be long; :func:`safe_name` also bounds its length.
    """
    cleaned = unicodedata.normalize("NFC", valid_text(text))
    cleaned = " ".join(cleaned.split())  # tabs, newlines, runs of spaces
    cleaned = _FORBIDDEN.sub("_", cleaned)
    cleaned = cleaned.strip(" .")  # Windows drops trailing dots and spaces; no "." or ".."
    if not cleaned:
        return fallback
    if cleaned.split(".")[0].upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    return cleaned


def safe_name(text: str, *, fallback: str = "untitled", max_bytes: int = MAX_NAME_BYTES) -> str:
    """``text`` as one path component of at most ``max_bytes`` UTF-8 bytes.

    Safe as in :func:`safe_part`; longer text keeps its start and ends in ``~`` and a hash of the
    whole (normalized) text, so the name is the same on every run and two long texts that start
    alike get two names.
    """
    cleaned = safe_part(text, fallback=fallback)
    encoded = cleaned.encode("utf-8")
    if len(encoded) <= max_bytes:
        return cleaned
    digest = hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()
    room = max(0, max_bytes - _HASH_CHARS - 1)
    head = encoded[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{head}~{digest[:_HASH_CHARS]}"


def safe_id(text: str, *, max_bytes: int = MAX_TAG_BYTES) -> str:
    """An id as part of a file name; an id that had to be changed (``1/2``) gets a hash, so it
    cannot take the name of another id (``1_2``)."""
    cleaned = safe_part(text, fallback="")
    encoded = cleaned.encode("utf-8")
    if cleaned == text and len(encoded) <= max_bytes:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    room = max(0, max_bytes - _HASH_CHARS - 1)
    head = encoded[:room].decode("utf-8", errors="ignore").rstrip(" .") or "id"
    return f"{head}~{digest[:_HASH_CHARS]}"


def label_folder(label: str) -> str:
    """The folder name of a genre label: ``rock`` -> ``rock``, ``Old-Time / Historic`` ->
    ``Old-Time _ Historic~<hash>``.

    A label that had to be changed to be a name gets a hash of the label, so it cannot share the
    folder (and the pictures in it) of another label (``a:b`` and ``a_b``). Raises
    :class:`ParameterError` for a label with nothing in it.
    """
    text = normalize_label(label)
    if not text:
        raise ParameterError(f"{label!r}: an empty genre label has no folder; name the genre")
    cleaned = safe_part(text)
    if cleaned == text and len(text.encode("utf-8")) <= MAX_NAME_BYTES:
        return text
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    room = MAX_NAME_BYTES - _HASH_CHARS - 1
    head = cleaned.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{head or 'genre'}~{digest[:_HASH_CHARS]}"


def track_file_name(artist: str, title: str, source: str, source_id: str, suffix: str) -> str:
    """``<artist> - <title> [<source>-<id>]<suffix>``, shortened to fit ``MAX_NAME_BYTES``."""
    tag = f" [{safe_part(source)}-{safe_id(source_id)}]{suffix}"
    stem = f"{safe_part(artist, fallback='Unknown artist')} - {safe_part(title)}"
    room = MAX_NAME_BYTES - len(tag.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:  # the tag keeps the name unique, so a plain cut is enough
        stem = encoded[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return stem + tag


def path_inside(root: str | os.PathLike[str], *parts: str) -> Path:
    """``root/part/...``, refused unless every part is one safe name and the result, with any
    symbolic links resolved, stays inside ``root``.

    Parts should come from :func:`safe_name` or :func:`label_folder`; this is the check every
    writer makes before it creates a file, so a bug elsewhere or a link planted in the output
    folder cannot make it write outside.
    """
    base = Path(root)
    for part in parts:
        if not part or safe_part(part) != part or len(part.encode("utf-8")) > 255:
            raise ParameterError(
                f"{part!r}: not a safe file name inside {base}; pass it through "
                "genrekit.naming.safe_name first"
            )
    target = base.joinpath(*parts)
    top = base.resolve()
    resolved = target.resolve()
    if resolved != top and top not in resolved.parents:
        raise ParameterError(
            f"{target}: leads outside {base} (to {resolved}, through a symbolic link); "
            "remove the link or choose another output folder"
        )
    return target
