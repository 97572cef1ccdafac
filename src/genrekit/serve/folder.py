"""The audio of the folder a server shows: listed, searched, and read only inside it.

A track is named by its path relative to the folder, with ``/`` between parts (as ``genrekit
classify FOLDER`` names it). A name from a request is checked before it becomes a path: an
absolute path, ``..`` or ``.`` parts, a link that leads out of the folder are refused (403);
hidden files, other files than audio and names that lead nowhere are not found (404).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from genrekit.constants import AUDIO_EXTENSIONS
from genrekit.errors import ParameterError
from genrekit.serve.problems import RequestError

MAX_TRACKS = 100_000
"""Most tracks listed from a folder; a larger one is listed in part."""
RESCAN_SECONDS = 10.0
"""A listing is reused for this long before the folder is read again."""


class TrackFolder:
    """The audio files under ``root``, at any depth, never outside it."""

    def __init__(self, root: Path):
        if not root.is_dir():
            raise ParameterError(f"{root}: no such folder; give a folder of audio files")
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._listed: list[str] = []
        self._listed_at = -RESCAN_SECONDS

    def tracks(self) -> list[str]:
        """Every track's name, sorted; read again after :data:`RESCAN_SECONDS`."""
        with self._lock:
            if time.monotonic() - self._listed_at >= RESCAN_SECONDS:
                self._listed = self._scan()
                self._listed_at = time.monotonic()
            return self._listed

    def search(self, query: str, limit: int) -> tuple[int, list[str]]:
        """(how many tracks match, the first ``limit`` of them): every word of ``query`` is in
        the name, in any case."""
        words = query.lower().split()
        found = [t for t in self.tracks() if all(w in t.lower() for w in words)]
        return len(found), found[:limit]

    def path_of(self, name: str) -> Path:
        """The file of a track's name, checked to be audio inside the folder.

        Raises :class:`RequestError` 403 for a name that would lead outside (absolute, ``..``,
        a link out), 404 for one that is not a track of the folder."""
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", name):
            raise RequestError(403, "absolute paths are not served; name a track in the folder")
        parts = name.split("/")
        if any(p in ("..", ".") or "\\" in p for p in parts):
            raise RequestError(403, "'..' and '.' are not served; name a track in the folder")
        if "\x00" in name or any(not p or p.startswith(".") for p in parts):
            raise RequestError(404, "no such track in the folder")
        candidate = self.root.joinpath(*parts)
        real = Path(os.path.realpath(candidate))
        if not real.is_relative_to(self.root):
            raise RequestError(403, "this track links outside the folder; it is not served")
        if candidate.suffix.lower() not in AUDIO_EXTENSIONS or not real.is_file():
            raise RequestError(404, "no such track in the folder")
        return real

    def _scan(self) -> list[str]:
        found: list[str] = []
        for top, folders, files in os.walk(self.root):  # links to folders are not followed
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            here = Path(top)
            for file in sorted(files):
                path = here / file
                if file.startswith(".") or path.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                real = Path(os.path.realpath(path))
                if real.is_relative_to(self.root) and real.is_file():
                    found.append(path.relative_to(self.root).as_posix())
                    if len(found) >= MAX_TRACKS:
                        return sorted(found)
        return sorted(found)
