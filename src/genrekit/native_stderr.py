"""Keep C decoders' chatter off the terminal without losing anything else written to stderr.

libsndfile decodes mp3 with libmpg123, which prints lines such as
``[src/libmpg123/parse.c:wetwork():1349] error: ...`` or ``Note: Trying to resync...`` straight
to file descriptor 2 for damaged frames, and offers no switch that reaches through libsndfile.
So while any thread is inside a native decoder, :func:`filtered` points descriptor 2 at a pipe;
a pump thread copies everything from the pipe to the real stderr, in order, except complete
lines that are that noise.

Descriptor 2 belongs to the whole process, so the redirection is counted: the first thread to
enter installs it, the last to leave removes it. Python's own ``sys.stderr`` (progress lines,
error lines, warnings) must keep its order with stdout, which a detour through the pump would
break ("classify 0/5" glued to the next result row), so while the pipe is in place
``sys.stderr`` writes straight to the real stderr instead; only what C code writes to
descriptor 2 takes the pipe, and nothing but libmpg123's noise is dropped from it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

# libmpg123's lines: "[src/libmpg123/parse.c:wetwork():1349] error: Giving up resync ...",
# "Note: Trying to resync...", "Warning: Xing stream size off by more than 1%, ...". One may follow
# a progress bar's unfinished line, so the tag is looked for anywhere, the words after a "\r".
NOISE = re.compile(rb"\[[^][\n]*libmpg123/[^][\n]*\]|(?:^|(?<=\r))(?:Note|Warning ?): ")
_STDERR = 2


class _Redirect:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: int | None = None
        self.pump: threading.Thread | None = None
        self.python_stderr: TextIO | None = None  # sys.stderr while the pipe is in place
        self.direct: TextIO | None = None  # the real stderr, for sys.stderr meanwhile

    def enter(self) -> None:
        with self.lock:
            self.users += 1
            if self.users == 1:
                self._install()

    def leave(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                self._remove()

    def _install(self) -> None:
        _flush_python_stderr()
        try:
            saved = os.dup(_STDERR)
        except OSError:  # no stderr at all: nothing to protect
            return
        try:
            read_end, write_end = os.pipe()
            out = os.dup(saved)
        except OSError:
            os.close(saved)
            return
        self._bypass_for_python(saved)
        os.dup2(write_end, _STDERR)
        os.close(write_end)
        self.saved = saved
        self.pump = threading.Thread(
            target=_pump, args=(read_end, out), name="genrekit-stderr-filter", daemon=True
        )
        self.pump.start()

    def _bypass_for_python(self, real_stderr: int) -> None:
        """Point ``sys.stderr`` at the real stderr, if it is descriptor 2 (not a capture)."""
        try:
            is_fd2 = sys.stderr is not None and sys.stderr.fileno() == _STDERR
        except (AttributeError, OSError, ValueError):
            is_fd2 = False
        if not is_fd2:
            return
        if self.direct is None:
            # Made once and never closed: another thread may still hold it mid-write.
            raw = io.FileIO(os.dup(real_stderr), "w")
            self.direct = io.TextIOWrapper(
                raw,
                encoding=sys.stderr.encoding,
                errors=sys.stderr.errors,
                line_buffering=True,
                write_through=True,
            )
        self.python_stderr = sys.stderr
        sys.stderr = self.direct

    def _remove(self) -> None:
        if self.saved is None:
            return
        _flush_python_stderr()
        if self.python_stderr is not None and sys.stderr is self.direct:
            sys.stderr = self.python_stderr
        self.python_stderr = None
        os.dup2(self.saved, _STDERR)  # closes the pipe's last write end: the pump sees EOF
        os.close(self.saved)
        self.saved = None
        if self.pump is not None:
            # A child process started meanwhile may hold the pipe open; don't wait for it.
            self.pump.join(timeout=2.0)
            self.pump = None


_redirect = _Redirect()


@contextlib.contextmanager
def filtered() -> Iterator[None]:
    """While inside, libmpg123's lines on descriptor 2 are dropped; all other output passes."""
    _redirect.enter()
    try:
        yield
    finally:
        _redirect.leave()


def _flush_python_stderr() -> None:
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.flush()


def _pump(read_end: int, out: int) -> None:
    """Copy ``read_end`` to ``out`` until EOF, dropping complete noise lines."""
    pending = b""
    try:
        while chunk := os.read(read_end, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [_without_noise(line + b"\n") for line in lines]
            if pending and not pending.startswith(b"["):
                kept.append(pending)  # a partial line that cannot be noise (a progress bar) now
                pending = b""
            _write_all(out, b"".join(kept))
        if pending:
            _write_all(out, _without_noise(pending))
    except OSError:
        pass
    finally:
        os.close(read_end)
        os.close(out)


def _without_noise(line: bytes) -> bytes:
    """The line, or what came before the noise in it (the rest of the line is the noise)."""
    found = NOISE.search(line)
    return line if found is None else line[: found.start()]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
