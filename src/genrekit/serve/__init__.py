"""``genrekit serve``: a local web app over the library (the ``serve`` extra: FastAPI, uvicorn).

:func:`create_app` builds the ASGI app (its API and pages); :func:`bind` and :func:`run` serve
it with uvicorn on a socket bound first, so the URL is known (and a port in use is one line)
before anything is served.
"""

from __future__ import annotations

from genrekit.serve.app import Limits, create_app
from genrekit.serve.server import bind, run, url_of

__all__ = ["Limits", "bind", "create_app", "run", "url_of"]
