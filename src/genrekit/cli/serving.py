"""``genrekit serve``: the web app, on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from genrekit.cli.app import EXIT_INTERRUPTED, app, console, errors, styled


@app.command()
def serve(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="FOLDER",
            help="A folder of audio to pick tracks from (searched deeply; optional).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    model: Annotated[
        str | None, typer.Option(help="Shipped model name, .onnx file or model folder.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="A feature store (from genrekit extract) for the Explore page."),
    ] = None,
) -> None:
    """Start the web app: drop a song, see its spectrogram, genres, timeline and tags.

    Runs until Ctrl-C. Needs the serve extra: pip install 'genrekit[serve]'.
    Exit status: 130 when stopped with Ctrl-C, 2 usage error (a port in use, no such folder).
    """
    from genrekit import extras

    extras.require("genrekit serve", "fastapi", "uvicorn", "python_multipart")
    if store is not None:
        extras.require("genrekit serve --store", "sklearn")  # the Explore page's maps
    from genrekit.serve import create_app, run
    from genrekit.serve.server import bind, is_loopback, url_of

    sock = bind(host, port)  # first: a port in use is one line before the model loads
    try:
        web = create_app(folder, model=model, store=store)
    except BaseException:
        sock.close()
        raise
    url = url_of(sock)
    console.print(Text.assemble("genrekit serve: ", (url, "bold"), " (Ctrl-C stops it)"))
    if not is_loopback(sock):
        errors.print(
            styled("warning:", "yellow", f"listening on {host}: other machines can reach it")
        )
    run(web, sock)
    errors.print("stopped")
    raise typer.Exit(EXIT_INTERRUPTED)
