"""The HTTP layer against a real local server: retries, back-off, rate limits, clear errors."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from genrekit.errors import (
    ExpiredLinkError,
    FetchError,
    HttpStatusError,
    ServiceUnreachableError,
)
from genrekit.http import HttpClient, RateLimit, RateLimiter, RetryLaterError, RetryPolicy
from genrekit.sources.deezer import check_answer
from tests.services import json_response

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=30.0, timeout=0.5)


@pytest.fixture
def client() -> Iterator[tuple[HttpClient, list[float]]]:
    slept: list[float] = []
    http = HttpClient(
        "svc",
        retry=FAST,
        default_limit=RateLimit(1000, 1.0),
        sleep=slept.append,
        allow_private=True,
    )
    yield http, slept
    http.close()


def test_retries_5xx_then_succeeds(httpserver: HTTPServer, client) -> None:
    http, slept = client
    httpserver.expect_oneshot_request("/x").respond_with_data("busy", status=503)
    httpserver.expect_request("/x").respond_with_json({"ok": 1})
    assert http.get_json(httpserver.url_for("/x")) == {"ok": 1}
    assert len(slept) == 1 and 0 < slept[0] <= 0.01


def test_429_honours_retry_after(httpserver: HTTPServer, client) -> None:
    http, slept = client
    httpserver.expect_oneshot_request("/x").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_request("/x").respond_with_json({"ok": 1})
    assert http.get_json(httpserver.url_for("/x")) == {"ok": 1}
    assert slept == [7.0]


def test_gives_up_after_the_attempts_with_the_last_reason(httpserver: HTTPServer, client) -> None:
    http, slept = client
    httpserver.expect_request("/x").respond_with_data("oops", status=500)
    with pytest.raises(FetchError, match=r"failed 3 times; last: HTTP 500"):
        http.get_json(httpserver.url_for("/x"))
    assert len(slept) == 2
    assert slept[1] > slept[0] / 2  # grows (with jitter)


def test_4xx_is_not_retried(httpserver: HTTPServer, client) -> None:
    http, slept = client
    httpserver.expect_request("/x").respond_with_json({"error": "Not Found"}, status=404)
    with pytest.raises(HttpStatusError, match=r"HTTP 404 .*Not Found") as info:
        http.get_json(httpserver.url_for("/x"))
    assert info.value.status == 404 and slept == []
    assert len(httpserver.log) == 1


def test_html_instead_of_json_is_a_clear_error(httpserver: HTTPServer, client) -> None:
    http, _ = client
    httpserver.expect_request("/x").respond_with_data(
        "<!DOCTYPE html><html><body>Captive portal</body></html>", content_type="text/html"
    )
    with pytest.raises(FetchError, match=r"did not answer JSON \(text/html.*<!DOCTYPE html>"):
        http.get_json(httpserver.url_for("/x"))


def test_timeouts_are_retried_then_reported(httpserver: HTTPServer, client) -> None:
    http, _ = client
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5.0)
        return json_response({})

    httpserver.expect_request("/x").respond_with_handler(slow)
    with pytest.raises(FetchError, match="failed 3 times; last: timeout"):
        http.get_json(httpserver.url_for("/x"))
    # Let the (single-threaded) server finish the abandoned requests before the next test.
    release.set()
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_refused_connection_is_reported(client) -> None:
    http, _ = client
    with pytest.raises(FetchError, match="ConnectError"):
        http.get_json("http://127.0.0.1:9/nothing")


def test_deezer_quota_error_in_http_200_waits_and_retries(httpserver: HTTPServer, client) -> None:
    http, slept = client
    quota = {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}}
    httpserver.expect_oneshot_request("/x").respond_with_json(quota)
    httpserver.expect_request("/x").respond_with_json({"data": [], "total": 0})
    assert http.get_json(httpserver.url_for("/x"), check=check_answer) == {"data": [], "total": 0}
    assert slept == [5.0]


def test_deezer_no_data_error_is_not_retried(httpserver: HTTPServer, client) -> None:
    http, slept = client
    httpserver.expect_request("/x").respond_with_json(
        {"error": {"type": "DataException", "message": "no data", "code": 800}}
    )
    with pytest.raises(FetchError, match="no such item"):
        http.get_json(httpserver.url_for("/x"), check=check_answer)
    assert slept == []


def test_download_retries_a_truncated_body(httpserver: HTTPServer, client, tmp_path: Path) -> None:
    http, _ = client
    body = bytes(range(256)) * 64
    httpserver.expect_oneshot_request("/a.mp3").respond_with_response(
        Response(iter([body[:1000]]), headers={"Content-Length": str(len(body))})
    )
    httpserver.expect_request("/a.mp3").respond_with_data(body)
    target = tmp_path / "a.mp3"
    assert http.download(httpserver.url_for("/a.mp3"), target) == len(body)
    assert target.read_bytes() == body


def test_download_of_expired_link_says_so(httpserver: HTTPServer, client, tmp_path: Path) -> None:
    http, _ = client
    httpserver.expect_request("/a.mp3").respond_with_data("expired", status=403)
    with pytest.raises(ExpiredLinkError, match="may have expired"):
        http.download(httpserver.url_for("/a.mp3") + "?hdnea=exp=1~hmac=secret", tmp_path / "a")
    with pytest.raises(ExpiredLinkError) as info:
        http.download(httpserver.url_for("/a.mp3") + "?hdnea=exp=1~hmac=secret", tmp_path / "a")
    assert "hmac" not in str(info.value)  # signed tokens stay out of messages


def test_download_refuses_what_cannot_be_a_preview(
    httpserver: HTTPServer, client, tmp_path: Path
) -> None:
    http, _ = client
    httpserver.expect_request("/big").respond_with_data(b"\0" * 5000)
    with pytest.raises(FetchError, match="larger than"):
        http.download(httpserver.url_for("/big"), tmp_path / "big", max_bytes=4096)


def test_rate_limiter_keeps_the_window() -> None:
    now = [0.0]
    sent: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(RateLimit(calls=3, period=5.0), clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        limiter.wait()
        sent.append(now[0])
    assert sent == [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 10.0]
    for i in range(len(sent) - 3):  # never more than 3 calls in any 5 s window
        assert sent[i + 3] - sent[i] >= 5.0


def test_retry_later_carries_a_delay() -> None:
    later = RetryLaterError("quota", 5.0)
    assert later.delay == 5.0 and later.reason == "quota"


def test_a_host_never_reached_fails_after_the_first_contact_attempts(client) -> None:
    http, slept = client
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceUnreachableError, match=f"svc: cannot connect to 127.0.0.1:{port}"):
        http.get_json(f"http://127.0.0.1:{port}/nothing")
    assert len(slept) == FAST.first_contact_attempts - 1  # not all FAST.attempts


def test_a_host_that_answered_once_gets_every_retry() -> None:
    slept: list[float] = []
    http = HttpClient(
        "svc",
        retry=FAST,
        default_limit=RateLimit(1000, 1.0),
        sleep=slept.append,
        allow_private=True,
    )
    server = HTTPServer()
    server.start()
    server.expect_request("/x").respond_with_json({"ok": True})
    url = server.url_for("/x")
    assert http.get_json(url) == {"ok": True}
    server.stop()  # the service goes away mid-run: a blip to wait out, not "no network"
    with pytest.raises(FetchError, match="failed 3 times; last: ConnectError") as caught:
        http.get_json(url)
    assert not isinstance(caught.value, ServiceUnreachableError)
    assert len(slept) == FAST.attempts - 1
    http.close()
