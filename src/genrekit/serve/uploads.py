"""Receiving an uploaded file: streamed to a private folder, capped, never whole in memory.

The body of ``POST /api/classify`` is read chunk by chunk and parsed as it arrives
(multipart/form-data): the part named ``file`` goes straight to a file of its own in the
server's private temporary folder, its bytes counted; past the cap the upload stops with 413.
Small fields (``model``, ``genres``, ...) are kept, each capped too. The whole upload has a
deadline, so a client that sends slowly cannot hold a worker's file open for ever.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from genrekit.serve.problems import RequestError

FILE_FIELD = "file"
"""The form field that carries the audio."""
MAX_FIELD_BYTES = 4096
"""Most bytes of a form field that is not the file (a model name, a list of genres)."""
MAX_FIELDS = 16
"""Most parts in one upload."""
_SLACK = 64 * 1024  # the body beyond the file: boundaries, headers, small fields
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass
class Upload:
    """A received upload: the file written to ``path`` (None if the body had no file part)."""

    path: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


def client_name(filename: str) -> str:
    """The name an upload is shown by: the last part of what the client sent, whatever its
    separators (a browser may send ``C:\\music\\song.mp3``), at most 255 characters."""
    name = re.split(r"[/\\]", filename)[-1].strip()
    return name[:255] or "upload"


class _Parts:
    """python-multipart's callbacks: each part's headers, then its data to a file or a field."""

    def __init__(self, upload: Upload, folder: Path, max_bytes: int):
        self.upload, self.folder, self.max_bytes = upload, folder, max_bytes
        self.parts = 0
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.name: str | None = None
        self.value = bytearray()
        self.out: Any = None  # the open file of the file part

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FIELDS:
            raise RequestError(400, f"more than {MAX_FIELDS} form fields; send the file alone")
        self.headers, self.name, self.value = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self.name != FILE_FIELD:
            return
        if self.upload.path is not None:
            raise RequestError(400, f"more than one '{FILE_FIELD}' field; send one file")
        shown = client_name(filename.decode("utf-8", "replace")) if filename else "upload"
        suffix = Path(shown).suffix
        # The decoders weigh the extension, as they do for the same file on disk.
        suffix = suffix.lower() if _SUFFIX.fullmatch(suffix) else ""
        handle, path = tempfile.mkstemp(dir=self.folder, prefix="upload-", suffix=suffix)
        self.upload.path, self.upload.filename = Path(path), shown
        self.out = os.fdopen(handle, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise RequestError(413, f"the file is larger than {megabytes(self.max_bytes)}")
            self.out.write(data[start:end])
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise RequestError(400, f"the field '{self.name}' is over {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        elif self.name:
            self.upload.fields[self.name] = self.value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive(
    content_type: str,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    folder: Path,
    *,
    max_bytes: int,
    seconds: float,
) -> Upload:
    """The upload of one request, its file in ``folder`` (the caller deletes it: :meth:`discard`).

    Raises :class:`RequestError`: 413 past ``max_bytes`` (at once when the declared length is
    already over), 400 for a body that is not multipart/form-data, 408 past ``seconds``."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RequestError(
            400, f"send the audio as multipart/form-data, in the field '{FILE_FIELD}'"
        )
    declared = content_length or ""
    if declared.isdigit() and int(declared) > max_bytes + _SLACK:
        raise RequestError(413, f"the upload is larger than {megabytes(max_bytes)}")
    upload = Upload()
    parts = _Parts(upload, folder, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in chunks:
                received += len(chunk)
                if received > max_bytes + _SLACK:
                    raise RequestError(413, f"the upload is larger than {megabytes(max_bytes)}")
                parser.write(chunk)
        parser.finalize()
    except TimeoutError:
        upload.discard()
        raise RequestError(408, f"the upload took longer than {seconds:g} s") from None
    except MultipartParseError as exc:
        upload.discard()
        raise RequestError(400, f"the form data is malformed ({exc})") from None
    except BaseException:
        upload.discard()
        raise
    finally:
        parts.close()
    return upload


def private_folder(parent: Path | None = None) -> Path:
    """A new folder only this user can enter (0700) for the uploads; the caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix="genrekit-serve-", dir=parent))
    folder.chmod(0o700)  # mkdtemp makes it so; said again, as the promise it is
    return folder
