"""Outside text made a path (genrekit.naming): safe parts and file names that fit."""

from __future__ import annotations

import pytest

from genrekit.naming import MAX_NAME_BYTES, safe_part, track_file_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AC/DC", "AC_DC"),
        ('What? "Now" <live>', "What_ _Now_ _live_"),
        ("  trailing dots... ", "trailing dots"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("tab\there\nnewline", "tab here newline"),
        ("", "untitled"),
        ("Sigur Rós - Ágætis byrjun", "Sigur Rós - Ágætis byrjun"),
    ],
)
def test_safe_part(text: str, expected: str) -> None:
    assert safe_part(text) == expected


def test_track_file_name_fits_every_file_system() -> None:
    name = track_file_name("音楽" * 100, "x" * 300, "deezer", "123", ".mp3")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.endswith(" [deezer-123].mp3")
    stem = name.removesuffix(" [deezer-123].mp3")  # the artist, cut between characters:
    assert stem and set(stem) <= {"音", "楽"}  # no replacement character, no half of one
