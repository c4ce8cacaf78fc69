"""Where emolab keeps generated data, preprocessed segments and results."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str, create: bool = True) -> Path:
    """Return emolab's cache folder (or a sub-folder of it).

    The folder is ``$EMOLAB_HOME`` when that variable is set, else ``~/.cache/emolab``.  Generated
    synthetic datasets, the preprocessed segment store and results tables live below it; deleting
    it is always safe (everything in it is recomputed on demand).
    """
    root = Path(os.environ.get("EMOLAB_HOME", Path.home() / ".cache" / "emolab")).expanduser()
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def find_project_root(start: Path | None = None) -> Path:
    """Return the checkout that holds ``book/_config.yml`` and ``notebooks/`` (searching upwards).

    Raises
    ------
    FileNotFoundError
        When neither ``start`` nor any of its parents is an emolab checkout.
    """
    start = Path.cwd() if start is None else Path(start)
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / "book" / "_config.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise FileNotFoundError(
        f"no emolab checkout (a folder with book/_config.yml and notebooks/) at or above {start}; "
        "run the command from the repository or pass --project DIR"
    )


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex (:func:`hashlib.file_digest`, read in chunks)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
