"""The one exception family of genrekit.

Every error genrekit raises on purpose is a :class:`GenrekitError`, so callers can catch one class;
the children say which stage failed. Messages name the file or value at fault and, where it helps,
how to fix it.
"""

from __future__ import annotations


class GenrekitError(Exception):
    """Base class of every error raised by genrekit."""


class AudioLoadError(GenrekitError):
    """A file could not be read as audio (missing, not audio, corrupt, unsupported)."""


class AudioTooShortError(AudioLoadError):
    """The audio decoded fine but is shorter than genrekit can analyse."""


class FeatureStoreError(GenrekitError):
    """A feature store is missing, empty, damaged, or was made with other parameters."""


class ParameterError(GenrekitError, ValueError):
    """A function was called with an invalid argument value."""


class GenrekitWarning(UserWarning):
    """Something worked but not fully, e.g. a truncated file was only partly decoded."""


class PartialDecodeWarning(GenrekitWarning):
    """A damaged file was decoded up to the point of damage."""
