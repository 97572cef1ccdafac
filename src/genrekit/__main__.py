"""``python -m genrekit`` runs the command-line interface."""

from genrekit.cli import main

main()
