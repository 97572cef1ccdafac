"""HTTP for the data sources: polite (rate-limited), patient (retries) and strict (clear errors).

One :class:`HttpClient` per service. Every request first waits for the host's rate limiter, then
is retried with exponential back-off and jitter on timeouts, connection errors, truncated bodies,
HTTP 429 (honouring ``Retry-After``) and 5xx. Other 4xx answers raise at once: a wrong playlist id
will not get better by asking again. A host that has not answered once yet and cannot be connected
to (no network, a wrong address) raises :class:`ServiceUnreachableError` after
``RetryPolicy.first_contact_attempts`` tries, so that a run without network fails fast. A service
may add its own check of a JSON answer (Deezer reports its quota error inside an HTTP 200) by
raising :class:`RetryLaterError`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from genrekit import __version__
from genrekit.errors import (
    ExpiredLinkError,
    FetchError,
    HttpStatusError,
    ServiceUnreachableError,
)

T = TypeVar("T")
USER_AGENT = f"genrekit/{__version__} (+https://github.com/genrekit/genrekit)"
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
"""A 30 s preview is well under 2 MB; anything past this is not a preview."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is repeated."""

    attempts: int = 5
    base_delay: float = 1.0  # seconds before the 2nd attempt; doubles each time
    max_delay: float = 60.0  # cap of one wait, Retry-After included
    timeout: float = 20.0  # seconds per request (connect, read, write)
    connect_timeout: float = 10.0  # seconds to open a connection
    first_contact_attempts: int = 2  # tries to connect to a host that has never answered


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
    can be reached (e.g. "GENREKIT_DEEZER_API is set to http://...").
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
    ):
        self.service = service
        self.address_note = address_note
        self.retry = retry
        self._sleep = sleep
        self._limits = dict(limits or {})
        self._default_limit = default_limit
        self._limiters: dict[str, RateLimiter] = {}
        self._answered: set[str] = set()  # hosts that sent any HTTP response in this run
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(retry.timeout, connect=min(retry.connect_timeout, retry.timeout)),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
            event_hooks={"response": [self._note_answer]},
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

    def _backoff(self, attempt: int, hint: float | None) -> None:
        if hint is not None:
            delay = hint
        else:  # "full jitter": spreads retries of parallel workers apart
            delay = random.uniform(0.5, 1.0) * self.retry.base_delay * 2**attempt
        self._sleep(min(self.retry.max_delay, max(0.0, delay)))

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
    ) -> Any:
        def attempt() -> Any:
            response = self._client.request(
                method, url, params=params, headers=headers, data=data, auth=auth
            )
            self._raise_for_status(url, response)
            payload = _parse_json(self.service, url, response)
            if check is not None:
                check(payload)  # may raise RetryLaterError
            return payload

        return self._with_retries(url, attempt)

    def download(self, url: str, target: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> int:
        """Stream ``url`` into ``target`` (overwritten); return the byte count.

        Raises :class:`ExpiredLinkError` on 403/410, the answer of an expired signed link.
        """

        def attempt() -> int:
            with self._client.stream("GET", url) as response:
                if response.status_code in (403, 410):
                    raise ExpiredLinkError(
                        f"{self.service}: preview link refused (HTTP {response.status_code}); "
                        f"it may have expired: {short_url(url)}",
                        response.status_code,
                    )
                self._raise_for_status(url, response)
                size = 0
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchError(
                                f"{self.service}: {short_url(url)} is larger than "
                                f"{max_bytes // 2**20} MiB; not a preview"
                            )
                        out.write(chunk)
                return size

        return self._with_retries(url, attempt)

    def _raise_for_status(self, url: str, response: httpx.Response) -> None:
        """Ask for a retry on 429/5xx; raise at once on other 4xx."""
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryLaterError(f"HTTP {status}", _retry_after(response))
        if status >= 400:
            response.read()
            raise HttpStatusError(
                f"{self.service}: HTTP {status} for {short_url(url)}{_body_hint(response)}", status
            )

    def _with_retries(self, url: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` under the host's rate limit until it succeeds or the attempts run out."""
        last = "no attempt made"
        hint: float | None = None
        for number in range(self.retry.attempts):
            if number:
                self._backoff(number - 1, hint)
            self._limiter(url).wait()
            try:
                return attempt()
            except RetryLaterError as later:
                last, hint = later.reason, later.delay
            except httpx.TransportError as exc:  # timeouts, refused, reset, truncated
                last, hint = _describe_transport_error(exc), None
                if self._unreachable(url, exc, number + 1):
                    also = f" and {self.address_note}" if self.address_note else ""
                    raise ServiceUnreachableError(
                        f"{self.service}: cannot connect to {urlsplit(url).netloc} ({last}); "
                        f"check the network connection{also}, then run the same command again"
                    ) from None
        raise FetchError(
            f"{self.service}: {short_url(url)} failed {self.retry.attempts} times; last: {last}"
        )

    def _unreachable(self, url: str, exc: httpx.TransportError, attempts: int) -> bool:
        """True if ``url``'s host never answered, cannot be connected to, and was tried enough."""
        connect = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        return (
            connect
            and urlsplit(url).netloc not in self._answered
            and attempts >= min(self.retry.first_contact_attempts, self.retry.attempts)
        )


def _describe_transport_error(exc: httpx.TransportError) -> str:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:  # an HTTP date: rare for APIs; fall back to our own back-off
        return None


def _body_hint(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:160]}" if text else ""


def _parse_json(service: str, url: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        start = response.text.lstrip()[:60].replace("\n", " ")
        raise FetchError(
            f"{service}: {short_url(url)} did not answer JSON ({kind}; starts {start!r})"
        ) from None
