"""The one error of a request that the server answers with an HTTP status and one line."""

from __future__ import annotations

from genrekit.errors import GenrekitError


class RequestError(GenrekitError):
    """A request the server refuses: ``status`` is its HTTP status, the message its one line
    (``{"detail": message}``), ``headers`` any the answer must carry (``Retry-After``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
