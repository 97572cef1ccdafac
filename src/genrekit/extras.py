"""genrekit's optional parts: which pip extra installs each, and one line when one is missing.

The base install holds what ``classify``, ``extract``, ``embed`` and ``fetch`` need. Exploring,
drawing, training, serving and running on a Dask cluster need more (scikit-learn, matplotlib,
Pillow, onnx, PyTorch, FastAPI, dask.distributed): they sit behind extras, and a missing one is
named with the command that installs it, not a traceback.
"""

from __future__ import annotations

from genrekit.errors import MissingExtraError

EXTRAS: dict[str, tuple[str, str]] = {
    # import name: (what pip calls it, the genrekit extra that installs it)
    "sklearn": ("scikit-learn", "explore"),
    "matplotlib": ("matplotlib", "explore"),
    "PIL": ("Pillow", "explore"),
    "onnx": ("onnx", "train"),
    "torch": ("PyTorch", "train"),
    "fastapi": ("FastAPI", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "python_multipart": ("python-multipart", "serve"),
    "distributed": ("dask[distributed]", "cluster"),
}


def install_hint(modules: list[str]) -> str:
    """``"scikit-learn, matplotlib: pip install 'genrekit[explore]'"`` for these import names."""
    names = [EXTRAS[m][0] if m in EXTRAS else m for m in modules]
    extras = sorted({EXTRAS[m][1] for m in modules if m in EXTRAS})
    command = f"pip install 'genrekit[{','.join(extras)}]'" if extras else f"pip install {names[0]}"
    return f"{', '.join(names)}: {command}"


def missing(*modules: str) -> list[str]:
    """The import names among ``modules`` that this Python cannot import. (Imported, not just
    looked up: a check right before use costs nothing extra, and a broken install counts.)"""
    absent = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            absent.append(module)
    return absent


def require(what: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` in one line if any of ``modules`` is not installed."""
    absent = missing(*modules)
    if absent:
        raise MissingExtraError(f"{what} needs {install_hint(absent)}")


def known(module: str | None) -> bool:
    """Whether an import name (a ``ModuleNotFoundError``'s ``name``) is one of genrekit's extras."""
    return module is not None and module.split(".")[0] in EXTRAS
