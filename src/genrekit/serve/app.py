"""The web app of ``genrekit serve``: its API and its pages, as one ASGI application.

:func:`create_app` loads the model once, makes a private folder for uploads and a bounded pool
of classifying threads, and answers:

- ``GET /api/health``, ``GET /api/models``;
- ``POST /api/classify``: a multipart upload (field ``file``; optional ``model``, ``genres``,
  ``segments``, ``tags``, ``min_confidence``, ``spectrogram``) answered with the JSON object
  ``genrekit classify --format json`` prints for the file (plus ``spectrogram`` if asked);
- ``GET /api/tracks?q=``, ``GET /api/tracks/{name}/audio``, ``GET /api/tracks/{name}/classify``:
  the served folder's audio, only inside it;
- ``GET /api/store``, ``GET /api/store/maps/{name}``, ``GET /api/store/clips/{id}/spectrogram``
  and ``.../audio``: a feature store's clips, its maps (:mod:`genrekit.serve.maps`, computed
  once when first asked) with ``genrekit explore``'s numbers, a clip's log-mel and its track;
- ``/`` the Classify page, ``/explore`` the Explore page, ``/docs`` the API's documentation
  (from ``/openapi.json``), all assets from the package: no network needed.

Refusals are one line, ``{"detail": "..."}``, with their status: 400 a bad field, 403 a path
out of the folder, 404 nothing there, 408 a slow upload, 413 a file over the cap, 503 (with
``Retry-After``) every worker busy past the wait. A file that cannot be classified is answered
with its record (status ``failed`` and the CLI's reason): 415 when it is not audio, 422 when it
is audio that cannot be used (too short).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from genrekit import __version__, extras
from genrekit.classify_batch import AudioFile, Outcome
from genrekit.errors import (
    AudioTooShortError,
    FeatureStoreError,
    GenrekitError,
    ModelError,
    ParameterError,
    reason_about,
)
from genrekit.predict import (
    DEFAULT_MODEL,
    Model,
    available_models,
    check_confidence,
    check_genres,
    classify,
    load_model,
)
from genrekit.serve.folder import TrackFolder
from genrekit.serve.maps import StoreMaps
from genrekit.serve.pool import Pool
from genrekit.serve.problems import RequestError
from genrekit.serve.spectrogram import spectrogram
from genrekit.serve.uploads import FILE_FIELD, private_folder, receive
from genrekit.track_record import TrackRecord, as_json
from genrekit.workers import default_workers

MAX_UPLOAD_BYTES = 50 * 2**20
"""The largest audio file accepted by default (50 MB)."""
MAX_LISTED = 200
"""Most tracks one ``GET /api/tracks`` lists."""


@dataclass(frozen=True)
class Limits:
    """How much a server takes on: the upload cap, its workers, how long a request waits."""

    max_upload_bytes: int = MAX_UPLOAD_BYTES
    workers: int | None = None  # classifying threads; None: one per core
    wait_seconds: float = 10.0  # for a free worker, then 503
    max_waiting: int = 32  # requests waiting for a worker at once; more get 503 at once
    upload_seconds: float = 120.0  # to send one upload, then 408

    def check(self) -> None:
        for name in ("max_upload_bytes", "max_waiting"):
            if getattr(self, name) < 1:
                raise ParameterError("must be 1 or more", option=name, value=getattr(self, name))
        if self.workers is not None and self.workers < 1:
            raise ParameterError(
                "give 1 or more, or None for one per core", option="workers", value=self.workers
            )
        for name in ("wait_seconds", "upload_seconds"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ParameterError(
                    "must be a finite number of seconds, 0 or more", option=name, value=value
                )


@dataclass(frozen=True)
class Asked:
    """What a request asks of a classification (the CLI's options of the same names)."""

    model: str
    genres: list[str] | None = None
    segments: bool = False
    tags: bool = False
    min_confidence: float | None = None
    spectrogram: bool = False


_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


def _flag(fields: dict[str, str], name: str) -> bool:
    value = fields.get(name, "").strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise RequestError(400, f"{name}={fields[name]!r}: give true or false")


class _Models:
    """The served model, loaded at start, and the shipped ones, each loaded once when asked."""

    def __init__(self, model: str | Path | None, threads: int | None):
        self.threads = threads
        self.default = load_model(model, threads=threads)
        self._loaded: dict[str, Model] = {self.default.name: self.default}
        self._lock = threading.Lock()
        _warm_up(self.default)

    def names(self) -> list[str]:
        return list(dict.fromkeys([self.default.name, *available_models()]))

    def get(self, name: str | None) -> Model:
        """A served model by name (never a path from a request)."""
        if not name or name == self.default.name:
            return self.default
        if name not in self.names():
            raise RequestError(
                400, f"model {name!r} is not served; models: {', '.join(self.names())}"
            )
        with self._lock:  # one load, however many requests ask at once
            if name not in self._loaded:
                self._loaded[name] = load_model(name, threads=self.threads)
            return self._loaded[name]


def _warm_up(model: Model) -> None:
    """One classification of a few seconds of noise, with every option the page asks for: the
    taggers load and onnxruntime settles now, not during the first request."""
    y = np.random.default_rng(0).normal(0, 0.1, 4 * 22050).astype(np.float32)
    with contextlib.suppress(GenrekitError):
        classify(y, sr=22050, model=model, segments=True, tags=True)


def create_app(
    folder: str | Path | None = None,
    *,
    model: str | Path | None = None,
    store: str | Path | None = None,
    limits: Limits = Limits(),
    temp_parent: str | Path | None = None,
) -> FastAPI:
    """The app of ``genrekit serve``: ``folder``'s audio (if given) and the Classify page.

    ``model`` is a shipped model's name, an ``.onnx`` file or a model folder (default: the
    shipped default), loaded once here; ``store`` a feature store for the Explore page. Uploads
    go to a private folder (0700) made under ``temp_parent`` (default: the system's), each file
    deleted after use and the folder when the app is gone.

    Raises :class:`ParameterError` for a folder or limit that cannot be used and
    :class:`ModelError` for a model that cannot be loaded: before anything is served.
    """
    limits.check()
    tracks = TrackFolder(Path(folder)) if folder is not None else None
    store_path = Path(store) if store is not None else None
    if store_path is not None and not (store_path / "index.sqlite").is_file():
        raise ParameterError(
            "not a feature store (no index.sqlite); make one with genrekit extract",
            option="store",
            value=str(store_path),
        )
    maps = _store_maps(store_path) if store_path is not None else None
    # A store's clip plays from the served folder, or from the folder extract read.
    sources = [tracks] if tracks is not None else []
    recorded = maps.store.input_folder() if maps is not None else None
    if recorded is not None and recorded.is_dir():
        sources.append(TrackFolder(recorded))
    workers = limits.workers or default_workers()
    models = _Models(model, threads=1 if workers > 1 else None)
    pool = Pool(workers, wait_seconds=limits.wait_seconds, max_waiting=limits.max_waiting)
    uploads = private_folder(Path(temp_parent) if temp_parent is not None else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        _close(pool, uploads)

    app = FastAPI(
        lifespan=lifespan,
        title="genrekit",
        version=__version__,
        summary="Classify music genres: the API of genrekit serve.",
        docs_url=None,  # FastAPI's pages load their scripts from a CDN; ours ship in the package
        redoc_url=None,
    )
    weakref.finalize(app, _close, pool, uploads)
    _document_refusals_as_answered(app)
    app.state.models, app.state.pool, app.state.uploads = models, pool, uploads
    app.state.tracks, app.state.store, app.state.limits = tracks, store_path, limits

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One line, as every refusal: the first parameter at fault, its value and why.
        first = exc.errors()[0]
        where = str(first.get("loc", ("?",))[-1])
        said = f"{where}={first['input']!r}: " if "input" in first else f"{where}: "
        return JSONResponse({"detail": said + str(first.get("msg", "invalid"))}, 400)

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # the client left mid-upload: nobody reads this

    static = resources.files("genrekit.serve") / "static"
    app.mount("/static", StaticFiles(packages=[("genrekit.serve", "static")]), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(static.joinpath("index.html").read_text("utf-8"))

    @app.get("/explore", include_in_schema=False)
    def explore_page() -> HTMLResponse:
        return HTMLResponse(static.joinpath("explore.html").read_text("utf-8"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(static.joinpath("docs.html").read_text("utf-8"))

    @app.get("/api/health", tags=["server"])
    def health() -> dict[str, Any]:
        """The server is up: its version, model, folder and how busy its workers are."""
        return {
            "status": "ok",
            "version": __version__,
            "model": models.default.name,
            "folder": tracks is not None,
            "store": store_path is not None,
            "workers": pool.workers,
            "busy": pool.busy,
            "waiting": pool.waiting,
            "max_upload_bytes": limits.max_upload_bytes,
        }

    @app.get("/api/models", tags=["server"])
    def list_models() -> list[dict[str, Any]]:
        """The models a request may name (``model``): the served one first, then the shipped
        ones, with their genres."""
        listed: list[dict[str, Any]] = []
        for name in models.names():
            try:
                loaded = models.get(name)
            except GenrekitError as exc:  # a shipped model that cannot load is listed as such
                listed.append({"name": name, "error": str(exc)})
                continue
            listed.append(
                {
                    "name": name,
                    "default": loaded is models.default,
                    "shipped_default": name == DEFAULT_MODEL,
                    "architecture": loaded.architecture,
                    "genres": loaded.classes,
                }
            )
        return listed

    @app.post(
        "/api/classify",
        tags=["classify"],
        openapi_extra={"requestBody": _FORM_SCHEMA},
        responses=_CLASSIFY_RESPONSES,
    )
    async def classify_upload(request: Request) -> Response:
        """Classify an uploaded audio file: the object ``genrekit classify --format json``
        prints for it (``file`` is the upload's name), with ``spectrogram`` if asked."""
        upload = await receive(
            request.headers.get("content-type", ""),
            request.headers.get("content-length"),
            request.stream(),
            uploads,
            max_bytes=limits.max_upload_bytes,
            seconds=limits.upload_seconds,
        )
        try:
            if upload.path is None:
                raise RequestError(400, f"no file: send the audio in the form field '{FILE_FIELD}'")
            asked = _asked(upload.fields, models)
            path = upload.path
            return await _answer(pool, models, AudioFile(path, upload.filename), asked)
        finally:
            upload.discard()

    @app.get("/api/tracks", tags=["folder"])
    def list_tracks(q: str = "", limit: int = MAX_LISTED) -> dict[str, Any]:
        """The served folder's tracks whose names hold every word of ``q`` (any case)."""
        found = _folder(tracks)
        total, names = found.search(q, max(0, min(limit, MAX_LISTED)))
        return {"total": total, "tracks": names}

    @app.get("/api/tracks/{name:path}/audio", tags=["folder"], responses=_TRACK_RESPONSES)
    def track_audio(name: str) -> FileResponse:
        """A track's file, as it is (ranges allowed, for seeking)."""
        return FileResponse(_folder(tracks).path_of(name))

    @app.get(
        "/api/tracks/{name:path}/classify",
        tags=["folder"],
        responses=_TRACK_RESPONSES | _CLASSIFY_RESPONSES,
    )
    async def classify_track(
        name: str,
        model: str = "",
        genres: str = "",
        segments: str = "false",
        tags: str = "false",
        min_confidence: str = "",
        spectrogram: str = "false",
    ) -> Response:
        """Classify a track of the served folder, as ``POST /api/classify`` does an upload
        (the same fields, as query parameters)."""
        path = _folder(tracks).path_of(name)
        fields = {"model": model, "genres": genres, "min_confidence": min_confidence}
        fields |= {"segments": segments, "tags": tags, "spectrogram": spectrogram}
        return await _answer(pool, models, AudioFile(path, name), _asked(fields, models))

    @app.get("/api/store", tags=["explore"])
    def store_summary() -> dict[str, Any]:
        """The feature store's genres, the clips its maps show (``genre`` indexes ``genres``;
        ``id`` names the clip below) and its maps; ``audio``: whether clips can be played."""
        return _explored(maps).summary() | {"audio": bool(sources)}

    @app.get("/api/store/maps/{name}", tags=["explore"], responses=_NOT_THERE)
    def store_map(name: str) -> dict[str, Any]:
        """One map: ``x`` and ``y`` of each clip (in the order of ``GET /api/store``), its axes,
        and ``genrekit explore``'s separation numbers for it. The first request computes it."""
        try:
            return _explored(maps).map(name)
        except KeyError:
            raise RequestError(404, f"no map {name!r} of this store") from None
        except FeatureStoreError as exc:  # a clip's file damaged or gone since the start
            raise RequestError(500, f"the map cannot be computed: {exc}") from None

    @app.get("/api/store/clips/{clip}/spectrogram", tags=["explore"], responses=_NOT_THERE)
    def store_spectrogram(clip: int) -> dict[str, Any]:
        """A clip's log-mel from the store, as ``spectrogram`` in a classify answer."""
        try:
            return _explored(maps).spectrogram(clip)
        except IndexError:
            raise RequestError(404, f"no clip {clip} in this store") from None
        except FeatureStoreError as exc:
            raise RequestError(500, str(exc)) from None

    @app.get("/api/store/clips/{clip}/audio", tags=["explore"], responses=_NOT_THERE)
    def store_audio(clip: int) -> FileResponse:
        """A clip's track, from the served folder or the store's input folder (only inside it)."""
        store_ = _explored(maps).store
        if not 0 <= clip < len(store_):
            raise RequestError(404, f"no clip {clip} in this store")
        if not sources:
            raise RequestError(404, "this store's tracks are not served (no folder holds them)")
        missing: RequestError | None = None
        for source in sources:
            try:
                return FileResponse(source.path_of(store_.tracks[clip].path))
            except RequestError as exc:
                if exc.status != 404:
                    raise  # a name that leads out of a folder is refused, not looked for further
                missing = missing or exc
        assert missing is not None
        raise missing

    return app


def _document_refusals_as_answered(app: FastAPI) -> None:
    """``/openapi.json`` (and ``/docs``) as the app answers: FastAPI documents 422 for a
    parameter it cannot parse, but this app refuses one with 400 and one line."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for methods in build()["paths"].values():
                for operation in methods.values():
                    answers = operation.get("responses", {})
                    if answers.get("422", {}).get("description") == "Validation Error":
                        del answers["422"]
                        answers.setdefault("400", _BAD_PARAMETER)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _store_maps(path: Path) -> StoreMaps:
    extras.require("exploring a feature store", "sklearn")
    return StoreMaps(path)


def _explored(maps: StoreMaps | None) -> StoreMaps:
    if maps is None:
        raise RequestError(404, "this server shows no feature store")
    return maps


def _close(pool: Pool, uploads: Path) -> None:
    pool.close()
    shutil.rmtree(uploads, ignore_errors=True)


def _folder(tracks: TrackFolder | None) -> TrackFolder:
    if tracks is None:
        raise RequestError(404, "this server shows no folder of tracks")
    return tracks


def _asked(fields: dict[str, str], models: _Models) -> Asked:
    """A request's options, checked (400 with the library's reason)."""
    model = models.get(fields.get("model", "").strip() or None)
    named = [g for g in fields.get("genres", "").split(",") if g.strip()] or None
    text = fields.get("min_confidence", "").strip()
    try:
        genres = check_genres(model, named) if named else None
        least = float(text) if text else None
        check_confidence(least)
    except ValueError as exc:  # ParameterError is one; so is float("x")
        raise RequestError(400, str(exc)) from None
    return Asked(
        model.name,
        genres,
        segments=_flag(fields, "segments"),
        tags=_flag(fields, "tags"),
        min_confidence=least,
        spectrogram=_flag(fields, "spectrogram"),
    )


async def _answer(pool: Pool, models: _Models, file: AudioFile, asked: Asked) -> Response:
    """The record of one file, classified on a worker of ``pool``, as a JSON answer."""
    model = models.get(asked.model)
    status, data = await pool.run(lambda: classify_file(file, model, asked))
    return JSONResponse(data, status)


def classify_file(file: AudioFile, model: Model, asked: Asked) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON object) of one file: its record as ``genrekit classify --format
    json`` prints it; 415 for a file that is not audio, 422 for audio that cannot be used."""
    status = 200
    try:
        # By content: the decoders read the bytes; the file's name proves nothing.
        found = classify(
            file.path,
            model=model,
            segments=asked.segments,
            genres=asked.genres,
            tags=asked.tags,
            min_confidence=asked.min_confidence,
        )
        outcome = Outcome(file, prediction=found)
    except AudioTooShortError as exc:
        status, outcome = 422, Outcome(file, error=reason_about(file.path, exc))
    except ModelError as exc:
        status, outcome = 500, Outcome(file, error=reason_about(file.path, exc))
    except GenrekitError as exc:
        status, outcome = 415, Outcome(file, error=reason_about(file.path, exc))
    except Exception as exc:  # a decoder's surprise: this file's answer, not the server's end
        status, outcome = 500, Outcome(file, error=f"unexpected {type(exc).__name__}: {exc}")
    data = as_json(TrackRecord.of(outcome), segments=asked.segments, tags=asked.tags)
    if asked.spectrogram and status == 200:
        try:
            data["spectrogram"] = spectrogram(file.path)
        except GenrekitError:  # it classified, so it decodes; if not, the answer stands alone
            data["spectrogram"] = None
    return status, data


_FORM_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {
                    FILE_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "An audio file of any format genrekit reads (checked by "
                        "its content, not its name).",
                    },
                    "model": {"type": "string", "description": "A model of GET /api/models."},
                    "genres": {
                        "type": "string",
                        "description": "Only these genres, comma-separated, any case.",
                    },
                    "segments": {"type": "boolean", "description": "Add a timeline."},
                    "tags": {"type": "boolean", "description": "Add both taggers' top tags."},
                    "min_confidence": {
                        "type": "number",
                        "description": "No genre when the top probability is under this.",
                    },
                    "spectrogram": {
                        "type": "boolean",
                        "description": "Add the log-mel spectrogram the page draws.",
                    },
                },
            }
        }
    },
}
_RECORD = {"description": "The track's record (status failed, and the reason)."}
_BAD_PARAMETER = {"description": "A parameter that cannot be used: {detail}."}
_NOT_THERE: dict[int | str, dict[str, Any]] = {404: {"description": "Nothing there: {detail}."}}
_TRACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "A name that leads out of the folder (.., absolute, a link out)."},
    404: {"description": "No such track in the folder: {detail}."},
}
_CLASSIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The track's record, as genrekit classify --format json prints it."},
    400: {"description": "A field that cannot be used: {detail}."},
    413: {"description": "The file is over the upload cap: {detail}."},
    415: _RECORD | {"description": "Not audio: the record, its reason the CLI's."},
    422: _RECORD | {"description": "Audio that cannot be used (too short): the record."},
    503: {"description": "Every worker busy past the wait: {detail}, and Retry-After."},
}
