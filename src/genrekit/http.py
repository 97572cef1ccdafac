"""HTTP for the data sources: polite (rate-limited), patient (retries) and strict (clear errors).

One :class:`HttpClient` per service. Every request first waits for the host's rate limiter, then
is retried with exponential back-off and jitter on timeouts, connection errors, truncated bodies,
HTTP 429 (honouring ``Retry-After``) and 5xx. Other 4xx answers raise at once: a wrong playlist id
will not get better by asking again. A host that has not answered once yet and cannot be connected
to (no network, a wrong address) raises :class:`ServiceUnreachableError` after
``RetryPolicy.first_contact_attempts`` tries, so that a run without network fails fast. A service
may add its own check of a JSON answer (Deezer reports its quota error inside an HTTP 200) by
raising :class:`RetryLaterError`.

Every read is bounded: an answer is decompressed here, chunk by chunk, and stops at a size cap
(``MAX_JSON_BYTES`` for JSON, ``MAX_DOWNLOAD_BYTES`` for previews), so a gzip bomb or an endless
body costs a few MiB at most. A request and its retries end at one overall deadline
(``RetryPolicy.json_deadline``/``download_deadline``): a watchdog shuts the socket of a server that
sends one byte every few seconds. Waits the service asks for (``Retry-After``, quota pauses) share
one budget per client (``RetryPolicy.max_total_wait``), and the time spent is kept in
:attr:`HttpClient.waited`. Only http(s) links are followed, and none to a private, loopback or
link-local address unless the client allows them (a service configured at such an address, as in
tests); redirects are checked the same way.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import ipaddress
import json
import math
import random
import re
import socket
import threading
import time
import urllib.request
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from genrekit import __version__
from genrekit.errors import (
    BadLinkError,
    ExpiredLinkError,
    FetchError,
    HttpStatusError,
    ServiceBusyError,
    ServiceUnreachableError,
)
from genrekit.naming import valid_text

T = TypeVar("T")
USER_AGENT = f"genrekit/{__version__} (+https://github.com/genrekit/genrekit)"
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
"""A 30 s preview is well under 2 MB; anything past this is not a preview."""
MAX_JSON_BYTES = 8 * 1024 * 1024
"""A page of 100 tracks is about 100 KB of JSON; an answer past this is not an API page."""
_CHUNK = 1 << 16
_HOST = re.compile(r"[A-Za-z0-9._~%:-]+|\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is repeated."""

    attempts: int = 5
    base_delay: float = 1.0  # seconds before the 2nd attempt; doubles each time
    max_delay: float = 60.0  # cap of one back-off wait of our own (Retry-After is honoured)
    timeout: float = 20.0  # seconds per request (connect, read, write)
    connect_timeout: float = 10.0  # seconds to open a connection
    first_contact_attempts: int = 2  # tries to connect to a host that has never answered
    json_deadline: float = 30.0  # seconds for an API request, all its attempts included
    download_deadline: float = 60.0  # seconds for a preview download, all attempts included
    max_total_wait: float = 300.0  # seconds a client may wait in all on Retry-After and quotas


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` requests per ``period`` seconds to one host."""

    calls: int
    period: float


class RetryLaterError(Exception):
    """Raised by a response check when the service asks to slow down (e.g. a quota error)."""

    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class RateLimiter:
    """A sliding-window limiter, shared by the threads that call one host."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more request fits in the window, and count it."""
        with self._lock:  # held while sleeping, so waiting threads go in turn
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.limit.period:
                    self._sent.popleft()
                if len(self._sent) < self.limit.calls:
                    self._sent.append(now)
                    return
                self._sleep(self.limit.period - (now - self._sent[0]))


def short_url(url: str) -> str:
    """A URL without its query, for messages: signed links carry long tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class HttpClient:
    """A thread-safe HTTP client for one service, with per-host rate limits and retries.

    ``limits`` maps a host name to its :class:`RateLimit`; other hosts get ``default_limit``.
    ``address_note`` says where the service's address came from, for the message when no host
    can be reached (e.g. "GENREKIT_DEEZER_API is set to http://..."). ``allow_private`` lets
    requests reach private, loopback and link-local addresses (see :meth:`allow_addresses_of`).
    """

    def __init__(
        self,
        service: str,
        *,
        limits: Mapping[str, RateLimit] | None = None,
        default_limit: RateLimit = RateLimit(20, 1.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        address_note: str | None = None,
        allow_private: bool = False,
    ):
        self.service = service
        self.address_note = address_note
        self.retry = retry
        self.allow_private = allow_private
        self.allowed_kinds: set[str] = set()  # kinds of local address allowed (see below)
        self._proxied = bool(set(urllib.request.getproxies()) & {"http", "https", "all"})
        self.waited = 0.0  # seconds waited on the service's requests (Retry-After, quota)
        self._sleep = sleep
        self._limits = dict(limits or {})
        self._default_limit = default_limit
        self._limiters: dict[str, RateLimiter] = {}
        self._answered: set[str] = set()  # hosts that sent any HTTP response in this run
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(retry.timeout, connect=min(retry.connect_timeout, retry.timeout)),
            follow_redirects=True,
            # One connection per request: the deadline's watchdog can shut its socket.
            limits=httpx.Limits(max_keepalive_connections=0),
            # Only what _decoded() can decompress with a bound on the output.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            event_hooks={"request": [self._check_url], "response": [self._note_answer]},
        )

    def allow_addresses_of(self, base: str) -> None:
        """Allow the kind of local address the service itself is configured at (a test server on
        loopback, a mirror on a private network), and only that kind: a service on loopback
        does not open the link-local cloud metadata address or the private network."""
        host = urlsplit(base).hostname or ""
        with contextlib.suppress(OSError):  # an unknown host: its requests fail clearly later
            self.allowed_kinds |= {_kind(a) for a in _addresses(host, 80) if not _public(a)}

    def _check_link(self, url: str) -> None:
        """Refuse, before any request, a link that is not an absolute http(s) URL."""
        try:
            parts = urlsplit(url)
            httpx.URL(url)
        except (ValueError, httpx.InvalidURL) as exc:
            raise BadLinkError(f"{self.service}: not a valid link ({exc}): {url[:120]!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadLinkError(f"{self.service}: not an http(s) link: {url[:120]!r}")
        if not _HOST.fullmatch(parts.hostname):
            raise BadLinkError(f"{self.service}: not a valid host name: {url[:120]!r}")

    def _check_url(self, request: httpx.Request) -> None:
        """Refuse a request (or a redirect) to anything but http(s) on a public address."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise BadLinkError(f"{self.service}: not an http(s) link: {short_url(str(url))}")
        if self.allow_private:
            return
        try:
            found = _addresses(url.host, url.port or (443 if url.scheme == "https" else 80))
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {url.host}: {exc}", request=request) from None
        blocked = [a for a in found if not _public(a) and _kind(a) not in self.allowed_kinds]
        if blocked:
            raise BadLinkError(
                f"{self.service}: {short_url(str(url))} points to a private or local address "
                f"({blocked[0]}); not followed"
            )

    def _check_peer(self, address: str) -> None:
        """Refuse a connection that reached a private or local address: the name may have
        resolved to a public one when :meth:`_check_url` looked, and to another now (DNS
        rebinding). Behind a proxy the peer is the proxy, which does its own connecting."""
        if self.allow_private or self._proxied:
            return
        if not _public(address) and _kind(address) not in self.allowed_kinds:
            raise BadLinkError(
                f"{self.service}: the connection reached a private or local address ({address}); "
                "not followed"
            )

    def _note_answer(self, response: httpx.Response) -> None:
        self._answered.add(response.request.url.netloc.decode("ascii"))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _limiter(self, url: str) -> RateLimiter:
        host = urlsplit(url).netloc
        with self._lock:
            if host not in self._limiters:
                self._limiters[host] = RateLimiter(self._limits.get(host, self._default_limit))
            return self._limiters[host]

    def _backoff(self, attempt: int, hint: float | None) -> float:
        """Wait before the next attempt; return how long if the service asked for the wait."""
        if hint is None:  # "full jitter": spreads retries of parallel workers apart
            delay = random.uniform(0.5, 1.0) * self.retry.base_delay * 2**attempt
            self._sleep(min(self.retry.max_delay, max(0.0, delay)))
            return 0.0
        # The wait asked for, in full: retrying sooner than asked only earns another refusal.
        # One longer than what is left of the run's budget ends the run now, not after it.
        delay = max(0.0, hint)
        with self._lock:
            if self.waited + delay > self.retry.max_total_wait:
                asked = f"{delay:.0f} s" if delay < 86400 else f"{delay / 3600:.0f} h"
                raise ServiceBusyError(
                    f"{self.service}: the service asks to wait {asked} (after "
                    f"{self.waited:.0f} s of waiting in this run, limit "
                    f"{self.retry.max_total_wait:.0f} s); run the same command again later"
                )
            self.waited += delay
        self._sleep(delay)
        return delay

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """GET ``url``, return its JSON; ``check(payload)`` may raise :class:`RetryLaterError`."""
        return self.request_json("GET", url, params=params, headers=headers, check=check)

    def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        check: Callable[[Any], None] | None = None,
        max_bytes: int = MAX_JSON_BYTES,
    ) -> Any:
        def attempt(deadline: float) -> Any:
            with (
                _Watchdog(deadline, self._check_peer) as watch,
                self._client.stream(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    data=data,
                    auth=auth,
                    timeout=self._timeout(deadline),
                    extensions={"trace": watch.trace},
                ) as response,
            ):
                self._raise_for_status(url, response)
                body = bytearray()
                for chunk in _decoded(response, deadline):
                    body += chunk
                    if len(body) > max_bytes:
                        raise BadLinkError(
                            f"{self.service}: {short_url(url)} answered more than "
                            f"{max_bytes // 2**20} MiB; not an API answer"
                        )
            payload = _parse_json(self.service, url, response, bytes(body))
            if check is not None:
                check(payload)  # may raise RetryLaterError
            return payload

        return self._with_retries(url, attempt, self.retry.json_deadline)

    def download(self, url: str, target: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> int:
        """Stream ``url`` into ``target`` (overwritten); return the byte count.

        Raises :class:`ExpiredLinkError` on 403/410, the answer of an expired signed link, and
        :class:`BadLinkError` for a link that must not or cannot be followed.
        """

        def attempt(deadline: float) -> int:
            with (
                _Watchdog(deadline, self._check_peer) as watch,
                self._client.stream(
                    "GET", url, timeout=self._timeout(deadline), extensions={"trace": watch.trace}
                ) as response,
            ):
                if response.status_code in (403, 410):
                    raise ExpiredLinkError(
                        f"{self.service}: preview link refused (HTTP {response.status_code}); "
                        f"it may have expired: {short_url(url)}",
                        response.status_code,
                    )
                self._raise_for_status(url, response)
                size = 0
                with target.open("wb") as out:
                    for chunk in _decoded(response, deadline):
                        size += len(chunk)
                        if size > max_bytes:
                            raise BadLinkError(
                                f"{self.service}: {short_url(url)} is larger than "
                                f"{max_bytes // 2**20} MiB; not a preview"
                            )
                        out.write(chunk)
                return size

        return self._with_retries(url, attempt, self.retry.download_deadline, service=False)

    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = max(0.001, deadline - time.monotonic())
        read = min(self.retry.timeout, left)
        return httpx.Timeout(read, connect=min(self.retry.connect_timeout, read))

    def _raise_for_status(self, url: str, response: httpx.Response) -> None:
        """Ask for a retry on 429/5xx; raise at once on other 4xx."""
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryLaterError(f"HTTP {status}", _retry_after(response))
        if status >= 400:
            raise HttpStatusError(
                f"{self.service}: HTTP {status} for {short_url(url)}{_body_hint(response)}", status
            )

    def _with_retries(
        self, url: str, attempt: Callable[[float], T], seconds: float, *, service: bool = True
    ) -> T:
        """Run ``attempt`` under the host's rate limit until it succeeds, the attempts run out or
        the deadline (``seconds`` from now, plus the waits the service asked for) passes.

        ``service`` is False for a link the service handed out (a preview on a CDN): a host of
        that kind that cannot be reached is that link's failure, not the service's."""
        self._check_link(url)
        last = "no attempt made"
        hint: float | None = None
        deadline = time.monotonic() + seconds
        for number in range(self.retry.attempts):
            if number:
                try:
                    deadline += self._backoff(number - 1, hint)
                except ServiceBusyError as busy:
                    if service:
                        raise
                    # A link's host that asks for a long wait fails that link, not the run.
                    raise FetchError(f"{busy} ({short_url(url)})") from None
            started = time.monotonic()
            self._limiter(url).wait()
            deadline += time.monotonic() - started  # our own politeness is not the server's time
            if time.monotonic() >= deadline:
                break
            try:
                return attempt(deadline)
            except RetryLaterError as later:
                last, hint = later.reason, later.delay
            except httpx.TooManyRedirects:
                raise BadLinkError(
                    f"{self.service}: {short_url(url)} redirects more than "
                    f"{self._client.max_redirects} times (a redirect loop)"
                ) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise BadLinkError(f"{self.service}: {short_url(url)}: {exc}") from None
            except httpx.TransportError as exc:  # timeouts, refused, reset, truncated
                last, hint = _describe_transport_error(exc), None
                if self._unreachable(url, exc, number + 1) and not service:
                    raise FetchError(
                        f"{self.service}: cannot connect to {urlsplit(url).netloc}, the host of "
                        f"the link {short_url(url)} ({last})"
                    ) from None
                if self._unreachable(url, exc, number + 1):
                    also = f" and {self.address_note}" if self.address_note else ""
                    raise ServiceUnreachableError(
                        f"{self.service}: cannot connect to {urlsplit(url).netloc} ({last}); "
                        f"check the network connection{also}, then run the same command again"
                    ) from None
            except _DeadlineError:
                last = "still answering at the deadline"
                break
            if time.monotonic() >= deadline:
                break
        else:
            raise FetchError(
                f"{self.service}: {short_url(url)} failed {self.retry.attempts} times; last: {last}"
            )
        raise FetchError(
            f"{self.service}: {short_url(url)} gave no complete answer within {seconds:.0f} s "
            f"(deadline); last: {last}"
        )

    def _unreachable(self, url: str, exc: httpx.TransportError, attempts: int) -> bool:
        """True if ``url``'s host never answered, cannot be connected to, and was tried enough."""
        connect = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        return (
            connect
            and urlsplit(url).netloc not in self._answered
            and attempts >= min(self.retry.first_contact_attempts, self.retry.attempts)
        )


class _DeadlineError(Exception):
    """A request's overall deadline passed while it was being answered."""


class _Watchdog:
    """Shuts a request's socket when its deadline passes: per-read timeouts alone let a server
    that sends one byte every few seconds hold the request forever."""

    def __init__(self, deadline: float, check_peer: Callable[[str], None]):
        self.deadline = deadline
        self._check_peer = check_peer
        self.fired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: remember the socket of the connection this request opens."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None and event == "connection.connect_tcp.complete":
                self._check_peer(str(sock.getpeername()[0]))  # before the request is sent
            with self._lock:
                self._socket = sock
                if self.fired:
                    self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed
                self._socket.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._timer.cancel()
        late = self.fired or time.monotonic() >= self.deadline
        if kind is not None and late and issubclass(kind, (httpx.TransportError, _DeadlineError)):
            raise _DeadlineError() from None


def _decoded(response: httpx.Response, deadline: float) -> Iterator[bytes]:
    """The body of a streamed response, decompressed in chunks of at most 64 KiB (so that a
    gzip bomb is stopped by the caller's count, not decompressed whole first)."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    elif encoding in ("", "identity"):
        inflate = None
    else:
        raise BadLinkError(f"answer compressed as {encoding!r}, which was not asked for")
    for raw in response.iter_raw(_CHUNK):
        if time.monotonic() >= deadline:
            raise _DeadlineError()
        if inflate is None:
            yield raw
            continue
        data = raw
        while data:
            try:
                out = inflate.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {encoding} data: {exc}") from None
            if out:
                yield out
            data = inflate.unconsumed_tail
            if inflate.eof:
                return


def _addresses(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _public(address: str) -> bool:
    """True for a global unicast address; False for private, loopback, link-local and the like."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _kind(address: str) -> str:
    """The kind of a non-public address: loopback, link-local, private or other."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    return "private" if ip.is_private else "other"


def _describe_transport_error(exc: httpx.TransportError) -> str:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:  # the other form: an HTTP date
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # unreadable: our own back-off
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _body_hint(response: httpx.Response) -> str:
    """The start of an error answer, read no further than 4 KiB."""
    head = b""
    try:
        for chunk in response.iter_raw(4096):
            head += chunk
            if len(head) >= 4096:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    if response.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
        return ""  # compressed: not worth decompressing for a hint
    text = head.decode(response.encoding or "utf-8", errors="replace").strip().replace("\n", " ")
    return f": {text[:160]}" if text else ""


def _parse_json(service: str, url: str, response: httpx.Response, body: bytes) -> Any:
    """The JSON of an answer, its text all valid (see :func:`_valid_strings`)."""
    try:
        payload = json.loads(body)
    except RecursionError:  # e.g. "[" * 100000: the parser's recursion runs out
        raise FetchError(
            f"{service}: {short_url(url)} answered JSON nested too deeply to be an API answer"
        ) from None
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        start = body[:200].decode("utf-8", errors="replace").lstrip()[:60].replace("\n", " ")
        raise FetchError(
            f"{service}: {short_url(url)} did not answer JSON ({kind}; starts {start!r})"
        ) from None
    return _valid_strings(payload) if _SURROGATE_ESCAPE.search(body) else payload


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _valid_strings(payload: Any) -> Any:
    """``payload`` with each lone surrogate (``"\\ud800"`` is valid JSON) in its keys and strings
    made U+FFFD, so no text of an answer can make the catalog, a file name or the terminal fail.
    Iterative: the answer may be nested as deep as the parser allowed."""
    if isinstance(payload, str):
        return valid_text(payload)
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = valid_text(value)
                elif isinstance(value, list | dict):
                    stack.append(value)
        elif isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(value, list | dict):
                    stack.append(value)
                fixed = valid_text(key)
                if fixed != key:
                    del node[key]
                node[fixed] = valid_text(value) if isinstance(value, str) else value
    return payload
