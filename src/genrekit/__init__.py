"""genrekit: learn to tell music genres apart from short song previews.

The core is importable piecewise and cheaply::

    from genrekit.audio import load
    from genrekit.features import melspectrogram, power_to_db, mfcc
    from genrekit.dataset import FeatureStore
"""

from genrekit.errors import (
    AudioLoadError,
    AudioTooShortError,
    FeatureStoreError,
    GenrekitError,
    GenrekitWarning,
    ParameterError,
    PartialDecodeWarning,
)

__version__ = "0.1.0"

__all__ = [
    "AudioLoadError",
    "AudioTooShortError",
    "FeatureStoreError",
    "GenrekitError",
    "GenrekitWarning",
    "ParameterError",
    "PartialDecodeWarning",
    "__version__",
]
