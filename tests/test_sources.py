"""What every source shares (genrekit.sources): genre queries."""

from __future__ import annotations

import pytest

from genrekit.errors import ParameterError
from genrekit.sources import GenreQuery


def test_genre_query_syntax_errors() -> None:
    assert GenreQuery.parse("metal=search:heavy metal: live") == GenreQuery(
        "metal", "search", "heavy metal: live"
    )
    for bad in ("jazz", "jazz=playlist", "=search:x", "jazz=:1"):
        with pytest.raises(ParameterError, match="LABEL=KIND:VALUE"):
            GenreQuery.parse(bad)
