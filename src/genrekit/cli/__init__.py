"""The ``genrekit`` command: a thin layer of options and output over the library API.

Heavy modules are imported inside the commands that need them, so ``genrekit --help`` is quick.
Exit codes: 0 success, 1 some inputs failed, 2 bad usage or a fatal error, 130 interrupted.
One module per group of commands: ``features`` (extract, embed, figure, explore), ``collecting``
(fetch, import, catalog), ``models`` (train, evaluate, export, classify, models) and ``serving``
(serve), with ``classify_output`` writing classify's table, CSV and JSON lines as results arrive.
"""

from genrekit.cli import collecting, features, models, serving
from genrekit.cli.app import app, main

__all__ = ["app", "collecting", "features", "main", "models", "serving"]
