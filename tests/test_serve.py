"""The API of ``genrekit serve`` through the ASGI test client: every status it answers, the JSON
of a track equal to ``genrekit classify --format json``'s, uploads capped and deleted, nothing
read outside the served folder, and a full pool refusing with 503 while the server goes on."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI
from fastapi.testclient import TestClient

from genrekit.predict import classify as real_classify
from genrekit.serve import Limits, create_app
from genrekit.serve import app as serve_app
from tests.conftest import EXAMPLES, Cli

METAL = "metal/Muldjord - Armygeddon.mp3"
SONG = EXAMPLES / METAL


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served folder: two examples, a hidden file, a text file, links in and out."""
    root = tmp_path_factory.mktemp("served")
    (root / "metal").mkdir()
    shutil.copy(SONG, root / METAL)
    shutil.copy(EXAMPLES / "rock" / "Sectoid - Escape from chaosland.ogg", root / "rock.ogg")
    (root / ".hidden.mp3").write_bytes(SONG.read_bytes()[:1000])
    (root / "notes.txt").write_text("not audio")
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(SONG, outside / "secret.mp3")
    (root / "out.mp3").symlink_to(outside / "secret.mp3")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "in.mp3").symlink_to(root / METAL)
    return root


@pytest.fixture(scope="module")
def app(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(folder, temp_parent=tmp_path_factory.mktemp("uploads"))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def upload(client: TestClient, path: Path, name: str | None = None, **fields: str) -> Any:
    with path.open("rb") as file:
        return client.post("/api/classify", files={"file": (name or path.name, file)}, data=fields)


def cli_json(cli: Cli, *args: object) -> list[dict[str, Any]]:
    run = cli("classify", *args, "--format", "json", "-j", "1")
    return [json.loads(line) for line in run.out.splitlines()]


def test_health_and_models(client: TestClient) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model"] == "genres-musicnn"
    models = client.get("/api/models").json()
    assert models[0]["name"] == "genres-musicnn" and models[0]["default"] is True
    assert "metal" in models[0]["genres"] and len(models[0]["genres"]) == 14
    assert {"gtzan-musicnn", "gtzan-cnn"} <= {m["name"] for m in models}


def test_an_upload_answers_the_json_of_genrekit_classify(
    client: TestClient, cli: Cli, tmp_path: Path
) -> None:
    shutil.copy(SONG, tmp_path / SONG.name)
    expected = cli_json(cli, tmp_path, "--tags", "--segments")
    answer = upload(client, SONG, tags="true", segments="true")
    assert answer.status_code == 200
    assert answer.json() == expected[0]
    assert answer.json()["genre"] == "metal" and len(answer.json()["segments"]) == 11
    # Without the options, the CLI's object without them: no "segments" or "tags" key.
    plain = upload(client, SONG).json()
    assert plain == cli_json(cli, tmp_path)[0] and "tags" not in plain


def test_genres_and_min_confidence_as_the_cli_takes_them(
    client: TestClient, cli: Cli, tmp_path: Path
) -> None:
    shutil.copy(SONG, tmp_path / SONG.name)
    options = {"genres": "jazz,Blues,rock", "min_confidence": "0.5"}
    expected = cli_json(cli, tmp_path, "--genres", "jazz,Blues,rock", "--min-confidence", "0.5")
    answer = upload(client, SONG, **options).json()
    assert answer == expected[0]
    assert answer["status"] == "unknown" and answer["reason"].startswith("none of the chosen")


def test_a_folder_track_answers_as_classify_names_it_in_the_folder(
    client: TestClient, cli: Cli, folder: Path
) -> None:
    expected = {row["file"]: row for row in cli_json(cli, folder, "--segments")}
    answer = client.get(f"/api/tracks/{METAL}/classify", params={"segments": "true"})
    assert answer.status_code == 200
    assert answer.json() == expected[METAL]


def test_the_spectrogram_the_page_draws(client: TestClient) -> None:
    answer = upload(client, SONG, spectrogram="true").json()
    picture = answer.pop("spectrogram")
    assert "spectrogram" not in upload(client, SONG).json()
    values = np.frombuffer(base64.b64decode(picture["data"]), np.uint8)
    assert values.size == picture["n_mels"] * picture["columns"] == 128 * picture["columns"]
    assert picture["columns"] == 1292  # 30 s at 43 frames a second, every frame
    assert picture["seconds"] == pytest.approx(30.0, abs=0.1)
    assert (picture["db_min"], picture["db_max"]) == (-80.0, 0.0)
    assert values.max() == 255 and values.min() < 128  # the loudest bin, and quieter ones
    labels = [t["label"] for t in picture["ticks"]]
    assert labels[:3] == ["0", "512", "1k"] and labels[-1] == "8k"
    bands = [t["band"] for t in picture["ticks"]]
    assert bands == sorted(bands) and bands[-1] < 128


def test_not_audio_is_415_with_the_cli_reason(client: TestClient, cli: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("a text file named .mp3")
    expected = cli_json(cli, tmp_path)[0]
    answer = upload(client, fake)
    assert answer.status_code == 415
    assert answer.json() == expected
    assert answer.json()["reason"].startswith("cannot be decoded as audio (tried libsndfile")


def test_audio_too_short_is_422_with_the_cli_reason(
    client: TestClient, cli: Cli, tmp_path: Path
) -> None:
    short = tmp_path / "blip.wav"
    sf.write(short, np.full(4410, 0.1, np.float32), 22050)
    answer = upload(client, short)
    assert answer.status_code == 422
    assert answer.json() == cli_json(cli, tmp_path)[0]
    assert answer.json()["reason"] == "only 0.200 s of audio; at least 0.5 s is needed"


def test_bad_requests_are_400_with_one_line(client: TestClient) -> None:
    cases = [
        client.post("/api/classify", files={"model": (None, "genres-musicnn")}),
        client.post("/api/classify", content=b"raw", headers={"content-type": "audio/mpeg"}),
        upload(client, SONG, genres="jazz,polka"),
        upload(client, SONG, genres="jazz"),
        upload(client, SONG, segments="maybe"),
        upload(client, SONG, min_confidence="1.5"),
        upload(client, SONG, model="/etc/passwd"),
        client.get(f"/api/tracks/{METAL}/classify", params={"segments": "maybe"}),
        client.get("/api/tracks", params={"limit": "many"}),
    ]
    details = [c.json()["detail"] for c in cases]
    assert [c.status_code for c in cases] == [400] * len(cases), details
    assert details[0] == "no file: send the audio in the form field 'file'"
    assert details[1] == "send the audio as multipart/form-data, in the field 'file'"
    assert "'polka' is not known to model genres-musicnn" in details[2]
    assert details[3].startswith("genres='jazz': name two genres or more")
    assert details[4] == "segments='maybe': give true or false"
    assert "min_confidence=1.5" in details[5]
    assert details[6].startswith("model '/etc/passwd' is not served; models: genres-musicnn")
    assert details[7] == "segments='maybe': give true or false"
    assert details[8].startswith("limit='many': ")
    assert all(isinstance(d, str) and "\n" not in d for d in details)


def test_another_shipped_model_by_name(client: TestClient) -> None:
    answer = upload(client, SONG, model="gtzan-musicnn")
    assert answer.status_code == 200
    assert len(answer.json()["probabilities"]) == 10


def test_uploads_are_written_to_a_private_folder_and_deleted(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads: Path = app.state.uploads
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
    seen: list[list[Path]] = []
    modes: list[int] = []

    def spying(path: Path, **options: Any) -> Any:
        seen.append(list(uploads.iterdir()))
        modes.append(stat.S_IMODE(path.stat().st_mode))
        return real_classify(path, **options)

    monkeypatch.setattr(serve_app, "classify", spying)
    assert upload(client, SONG).status_code == 200
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].suffix == ".mp3"
    assert modes == [0o600]  # the upload itself: only this user reads it
    assert list(uploads.iterdir()) == []


def test_an_upload_over_the_cap_is_413(tmp_path: Path) -> None:
    small = create_app(limits=Limits(max_upload_bytes=200_000), temp_parent=tmp_path)
    big = SONG.read_bytes()[:600_000]
    with TestClient(small) as client:
        declared = client.post("/api/classify", files={"file": ("a.mp3", big)})
        chunked = client.post(  # no Content-Length to refuse it by: counted as it comes
            "/api/classify",
            content=iter([_form_head("a.mp3"), big, b"\r\n--cut--\r\n"]),
            headers={"content-type": "multipart/form-data; boundary=cut"},
        )
        assert client.post("/api/classify", files={"file": ("a.mp3", big[:150_000])}).is_success
        assert list(small.state.uploads.iterdir()) == []
    assert declared.status_code == chunked.status_code == 413
    assert declared.json() == {"detail": "the upload is larger than 0.190735 MB"}
    assert chunked.json()["detail"].endswith(" is larger than 0.190735 MB")


def _form_head(filename: str) -> bytes:
    return (
        b'--cut\r\nContent-Disposition: form-data; name="file"; '
        + f'filename="{filename}"'.encode()
        + b"\r\n\r\n"
    )


def test_an_upload_is_refused_while_it_arrives_not_after(tmp_path: Path) -> None:
    from genrekit.serve.problems import RequestError
    from genrekit.serve.uploads import receive

    read = 0

    async def body() -> Any:
        nonlocal read
        yield _form_head("a.mp3")
        for _ in range(1000):  # 50 MB, if it were all read
            read += 50_000
            yield bytes(50_000)

    async def scenario() -> None:
        await receive(
            "multipart/form-data; boundary=cut",
            None,
            body(),
            tmp_path,
            max_bytes=200_000,
            seconds=10,
        )

    with pytest.raises(RequestError) as refused:
        asyncio.run(scenario())
    assert refused.value.status == 413
    assert read <= 300_000
    assert list(tmp_path.iterdir()) == []


def test_the_folder_is_listed_and_searched(client: TestClient) -> None:
    listed = client.get("/api/tracks").json()
    # Hidden files, other files and links out of the folder are not tracks.
    assert listed == {"total": 3, "tracks": ["in.mp3", METAL, "rock.ogg"]}
    assert client.get("/api/tracks", params={"q": "ARMY metal"}).json()["tracks"] == [METAL]
    assert client.get("/api/tracks", params={"q": "polka"}).json() == {"total": 0, "tracks": []}


def test_audio_is_served_from_the_folder_with_ranges(client: TestClient) -> None:
    whole = client.get(f"/api/tracks/{METAL}/audio")
    assert whole.status_code == 200 and whole.content == SONG.read_bytes()
    part = client.get(f"/api/tracks/{METAL}/audio", headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == SONG.read_bytes()[:100]
    assert client.get("/api/tracks/in.mp3/audio").content == SONG.read_bytes()  # a link inside


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("..%2F..%2Fetc%2Fpasswd", 403),
        ("metal%2F..%2F..%2Fsecret.mp3", 403),
        ("%2Fetc%2Fpasswd", 403),
        ("C:%2Fmusic%2Fx.mp3", 403),
        ("metal%5C..%5C..%5Csecret.mp3", 403),
        ("out.mp3", 403),  # a link to a file outside
        ("outdir%2Fsecret.mp3", 403),  # through a link to a folder outside
        ("missing.mp3", 404),
        (".hidden.mp3", 404),
        ("notes.txt", 404),
        ("metal", 404),
    ],
)
def test_nothing_outside_the_folder_is_read(client: TestClient, name: str, status: int) -> None:
    for action in ("audio", "classify"):
        answer = client.get(f"/api/tracks/{name}/{action}")
        assert answer.status_code == status, (action, answer.text)
        assert "detail" in answer.json() and "passwd" not in answer.text


def test_without_a_folder_tracks_are_404(tmp_path: Path) -> None:
    with TestClient(create_app(temp_parent=tmp_path)) as client:
        answer = client.get("/api/tracks")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "this server shows no folder of tracks"}


def test_a_full_pool_answers_503_with_retry_after_and_the_server_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(
        limits=Limits(workers=1, wait_seconds=0.2, max_waiting=1), temp_parent=tmp_path
    )
    release = threading.Event()
    started = threading.Event()

    def held(path: Path, **options: Any) -> Any:
        started.set()
        release.wait(timeout=30)
        return real_classify(path, **options)

    monkeypatch.setattr(serve_app, "classify", held)
    body = SONG.read_bytes()

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            def post() -> Any:
                return client.post("/api/classify", files={"file": ("a.mp3", body)})

            first = asyncio.create_task(post())
            for _ in range(300):  # at most 3 s for the first to reach its worker
                if started.is_set():
                    break
                await asyncio.sleep(0.01)
            waited, refused = await asyncio.gather(post(), post())  # one waits, one cannot
            health = await client.get("/api/health")
            release.set()
            return [await first, waited, refused, health]

    first, waited, refused, health = asyncio.run(scenario())
    assert first.status_code == 200 and first.json()["genre"] == "metal"
    assert waited.status_code == refused.status_code == 503
    assert int(waited.headers["retry-after"]) >= 1 and "retry-after" in refused.headers
    assert waited.json()["detail"].startswith("busy: 1 worker classifying and 1 request waiting")
    assert health.status_code == 200 and health.json()["busy"] == 1
    assert list(app.state.uploads.iterdir()) == []


def test_pages_and_docs_ship_in_the_package_and_need_no_network(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/api/classify"]["post"]["requestBody"]["content"]
    assert form["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"/api/health", "/api/models", "/api/tracks"} <= spec["paths"].keys()
    static = Path(serve_app.__file__).parent / "static"
    for file in static.iterdir():
        text = file.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, file
        assert client.get(f"/static/{file.name}").status_code == 200


def test_the_docs_list_the_statuses_the_api_answers(client: TestClient) -> None:
    """A parameter that cannot be parsed is 400, as answered: not FastAPI's 422."""
    assert client.get("/api/tracks", params={"limit": "x"}).status_code == 400
    paths = client.get("/openapi.json").json()["paths"]
    tracks = paths["/api/tracks"]["get"]["responses"]
    assert "422" not in tracks and tracks["400"]["description"].startswith("A parameter")
    audio = paths["/api/tracks/{name}/audio"]["get"]["responses"]
    assert {"400", "403", "404"} <= audio.keys() and "422" not in audio
    classify = paths["/api/tracks/{name}/classify"]["get"]["responses"]
    assert classify["422"]["description"].startswith("Audio that cannot be used")
    assert "403" in classify


def test_create_app_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    from genrekit.errors import ModelError, ParameterError

    with pytest.raises(ParameterError, match="no such folder"):
        create_app(tmp_path / "missing")
    with pytest.raises(ModelError, match="no such model"):
        create_app(model="polka-net")
    with pytest.raises(ParameterError, match="not a feature store"):
        create_app(store=tmp_path)
    with pytest.raises(ParameterError, match="max_upload_bytes=0"):
        create_app(limits=Limits(max_upload_bytes=0))


def test_serve_without_the_extra_names_it(tmp_path: Path) -> None:
    from tests.hidden import env_without, run

    result = run(env_without(tmp_path, ("fastapi",)), "serve", str(EXAMPLES))
    assert result.returncode == 2
    assert result.stderr == "error: genrekit serve needs FastAPI: pip install 'genrekit[serve]'\n"


def test_serve_on_a_port_in_use_is_one_line(cli: Cli) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        run = cli("serve", EXAMPLES, "--port", port)
    finally:
        taken.close()
    assert run.code == 2
    assert run.error_line == f"error: --port {port}: in use on 127.0.0.1 (another server?); " + (
        "choose another port"
    )


def test_serve_on_a_missing_folder_is_one_line(cli: Cli, tmp_path: Path) -> None:
    run = cli("serve", tmp_path / "nope", "--port", "0")
    assert run.code == 2
    assert run.error_line.endswith("nope: no such folder; give a folder of audio files")


def test_a_slow_upload_is_408_at_its_deadline_and_its_file_deleted(tmp_path: Path) -> None:
    """Slowloris on the body: a byte now and then never ends the upload; the deadline does."""
    from genrekit.serve.problems import RequestError
    from genrekit.serve.uploads import receive

    sent = 0

    async def body() -> Any:
        nonlocal sent
        yield _form_head("a.mp3")
        for _ in range(100):  # bounded: 10 s at most
            sent += 1
            await asyncio.sleep(0.1)
            yield b"x"

    async def scenario() -> None:
        await receive(
            "multipart/form-data; boundary=cut",
            None,
            body(),
            tmp_path,
            max_bytes=10**6,
            seconds=0.5,
        )

    with pytest.raises(RequestError) as refused:
        asyncio.run(scenario())
    assert refused.value.status == 408
    assert str(refused.value) == "the upload took longer than 0.5 s"
    assert sent < 20
    assert list(tmp_path.iterdir()) == []


def _uvicorn_in_a_thread(app: Any, header_seconds: float) -> tuple[Any, threading.Thread, int]:
    import uvicorn

    from genrekit.serve.server import _deadlined_h11, bind

    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        app, http=_deadlined_h11(header_seconds), lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: at most 5 s to start
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started
    return server, thread, sock.getsockname()[1]


def test_a_connection_that_sends_no_request_is_closed_not_held() -> None:
    """Slowloris: idle or half-sent requests would hold every connection place for ever."""
    import socket

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.6)  # a request under way longer than the header deadline
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    server, thread, port = _uvicorn_in_a_thread(slow_app, header_seconds=0.3)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
            assert idle.recv(100) == b""  # closed by the server (a timeout here: held)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as asking:
            asking.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := asking.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
    finally:
        server.should_exit = True
        thread.join(10)


def test_on_loopback_only_this_machine_s_names_are_answered() -> None:
    """DNS rebinding: a page of evil.example pointed at 127.0.0.1 must not read the folder."""
    from genrekit.serve.server import bind, guarded

    inner = FastAPI()
    inner.get("/api/tracks")(lambda: {"tracks": ["private.mp3"]})
    loopback = bind("127.0.0.1", 0)
    try:
        with TestClient(guarded(inner, loopback)) as client:
            for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000"):
                assert client.get("/api/tracks", headers={"host": host}).status_code == 200
            for host in ("evil.example:8000", "evil.example", "127.0.0.1.evil.example", ""):
                refused = client.get("/api/tracks", headers={"host": host})
                assert refused.status_code == 400, host
                assert "private" not in refused.text
                assert refused.json()["detail"] == (
                    f"host {host!r} is not this server's; open the URL genrekit serve printed"
                )
    finally:
        loopback.close()
    everywhere = bind("0.0.0.0", 0)  # asked for: any name reaches it
    try:
        assert guarded(inner, everywhere) is inner
    finally:
        everywhere.close()


def test_serve_on_a_folder_that_is_not_a_store_names_it_once(cli: Cli, tmp_path: Path) -> None:
    run = cli("serve", EXAMPLES, "--store", tmp_path, "--port", "0")
    assert run.code == 2
    assert run.error_line == (
        f"error: --store {tmp_path}: not a feature store (no index.sqlite); "
        "make one with genrekit extract"
    )


def test_a_server_on_every_address_prints_a_url_a_browser_opens() -> None:
    from genrekit.serve.server import bind, url_of

    for host, shown in (("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")):
        sock = bind(host, 0)
        try:
            assert url_of(sock) == f"http://{shown}:{sock.getsockname()[1]}/"
        finally:
            sock.close()


def test_on_loopback_other_sites_pages_cannot_post_work() -> None:
    """A page of evil.example may not make its visitor's browser keep the pool busy (CSRF)."""
    from genrekit.serve.server import bind, guarded

    inner = FastAPI()
    inner.post("/api/classify")(lambda: {"ok": True})
    inner.get("/api/health")(lambda: {"ok": True})
    loopback = bind("127.0.0.1", 0)
    try:
        with TestClient(guarded(inner, loopback)) as client:
            own = {"host": "127.0.0.1:8000"}
            for origin in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
                posted = client.post("/api/classify", headers=own | {"origin": origin})
                assert posted.status_code == 200, origin
            assert client.post("/api/classify", headers=own).status_code == 200  # curl: no Origin
            for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example"):
                refused = client.post("/api/classify", headers=own | {"origin": origin})
                assert refused.status_code == 403, origin
                assert refused.json()["detail"] == (
                    f"a request from the page of {origin!r} is refused; use this server's own page"
                )
            evil = own | {"origin": "https://evil.example"}
            assert client.get("/api/health", headers=evil).status_code == 200  # reads are CORS's
    finally:
        loopback.close()
