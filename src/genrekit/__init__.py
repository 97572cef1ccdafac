"""genrekit: learn to tell music genres apart from short song previews.

The core is importable piecewise and cheaply::

    from genrekit.audio import load
    from genrekit.features import melspectrogram, power_to_db, mfcc
    from genrekit.dataset import FeatureStore

and ``genrekit.classify`` / ``genrekit.load_model`` are loaded on first use.
"""

from typing import Any

from genrekit.errors import (
    AudioLoadError,
    AudioTooShortError,
    CatalogError,
    FeatureStoreError,
    FetchError,
    GenrekitError,
    GenrekitWarning,
    MissingExtraError,
    ModelError,
    ParameterError,
    PartialDecodeWarning,
    SilentAudioError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioLoadError",
    "AudioTooShortError",
    "CatalogError",
    "FeatureStoreError",
    "FetchError",
    "GenrekitError",
    "GenrekitWarning",
    "MissingExtraError",
    "ModelError",
    "ParameterError",
    "PartialDecodeWarning",
    "SilentAudioError",
    "__version__",
    "classify",
    "load_model",
]


def __getattr__(name: str) -> Any:
    # classify and load_model pull in onnxruntime: only when asked for.
    if name in ("classify", "load_model"):
        from genrekit import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'genrekit' has no attribute {name!r}")
