"""Serving the app with uvicorn on a socket bound first (so its URL is known before it runs)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from typing import Any

from genrekit.errors import ParameterError

MAX_CONNECTIONS = 64
"""Connections served at once; uvicorn answers more with 503 (the pool refuses long before)."""
HEADER_SECONDS = 10.0
"""How long a connection may take to send a request's line and headers before it is closed."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port).

    Raises :class:`ParameterError` naming the port (in use, or not allowed) or the host (not an
    address of this machine)."""
    if not 0 <= port <= 65535:
        raise ParameterError(
            "give a port from 0 to 65535 (0: any free one)", option="port", value=port
        )
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ParameterError(
            f"not an address ({exc.strerror})", option="host", value=host
        ) from None
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ParameterError(
                f"in use on {host} (another server?); choose another port",
                option="port",
                value=port,
            ) from None
        if exc.errno == errno.EACCES:
            raise ParameterError(
                "not allowed to this user (ports under 1024 need root); choose 1024 or more",
                option="port",
                value=port,
            ) from None
        raise ParameterError(
            f"cannot listen there ({exc.strerror or exc})", option="host", value=host
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://127.0.0.1:8000/`` for a bound socket (an IPv6 host in brackets).

    A socket on every address (0.0.0.0, ::) is shown by its loopback address: a browser
    refuses to open 0.0.0.0, and this machine reaches the server there too."""
    host, port = sock.getsockname()[:2]
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}/"


def is_loopback(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""The names a browser on this machine may call a loopback server by (its ``Host`` header)."""


def guarded(app: Any, sock: socket.socket) -> Any:
    """``app``, answering only requests that name this machine in ``Host`` when ``sock`` is
    on loopback: a web page whose own name is made to point at 127.0.0.1 (DNS rebinding)
    would otherwise read the served folder through its visitor's browser, and any site's page
    could post uploads to classify (it cannot read the answers, but they cost). A server bound
    to another address, as asked, answers any name."""
    if not is_loopback(sock):
        return app
    return _OnlyHosts(app, LOOPBACK_NAMES | {str(sock.getsockname()[0])})


class _OnlyHosts:
    """An ASGI app answering 400 to a request whose ``Host`` is not one of ``names``, and 403
    to a request that changes or costs something (POST) sent by another site's page."""

    def __init__(self, app: Any, names: frozenset[str]):
        self.app, self.names = app, names

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin", b"").decode("latin-1")
            refused = None
            if host_name(host) not in self.names:
                refused = (
                    400,
                    f"host {host!r} is not this server's; open the URL genrekit serve printed",
                )
            elif origin and scope.get("method") not in SAFE_METHODS and not self._own(origin):
                # Another site's page may not make its visitor's browser post work here: it
                # could not read the answer, but it would keep the classifying pool busy.
                refused = (
                    403,
                    f"a request from the page of {origin!r} is refused; use this server's own page",
                )
            if refused is not None:
                from starlette.responses import JSONResponse

                await JSONResponse({"detail": refused[1]}, refused[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _own(self, origin: str) -> bool:
        """Whether a browser's ``Origin`` is a page of this machine (not "null", not a site)."""
        from urllib.parse import urlsplit

        try:
            name = urlsplit(origin).hostname
        except ValueError:
            return False
        return name is not None and name in self.names


def host_name(host: str) -> str:
    """The name of a ``Host`` header, without its port: ``[::1]:8000`` is ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def run(
    app: Any,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    header_seconds: float = HEADER_SECONDS,
) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C (or SIGTERM); returns then."""
    import uvicorn

    config = uvicorn.Config(
        guarded(app, sock),
        http=_deadlined_h11(header_seconds),
        log_level=log_level,
        access_log=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )
    # asyncio's runner raises Ctrl-C's KeyboardInterrupt again once uvicorn has shut down.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def _deadlined_h11(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's headers.

    uvicorn waits for ever for a request that is sent slowly (or not at all), so a few dozen
    idle connections would hold every place of :data:`MAX_CONNECTIONS` and lock everyone out.
    Here a connection that has no request under way ``seconds`` after it opened (or after its
    last answer) is closed; a request whose headers have arrived is bounded by the app (the
    upload's deadline, the pool's wait)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Deadlined(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._late)

        def _late(self) -> None:
            self._deadline = None
            idle = self.cycle is None or self.cycle.response_complete  # no request under way
            if idle and not self.transport.is_closing():
                self.transport.close()

    return Deadlined
