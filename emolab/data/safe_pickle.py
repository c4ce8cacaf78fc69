"""Load DEAP's ``.dat`` pickles without letting them run code.

A pickle is a small program: its ``GLOBAL`` opcodes import any callable and its ``REDUCE`` opcodes
call it, so ``pickle.load`` on an untrusted file can run ``os.system``.  DEAP's preprocessed files
only need NumPy's array reconstruction, so :class:`RestrictedUnpickler` overrides
:meth:`pickle.Unpickler.find_class` (the hook the Python documentation recommends for this, see
"Restricting Globals") to hand out exactly these and refuse everything else:

- ``numpy.core.multiarray._reconstruct`` (the name Python-2 era NumPy wrote; under NumPy 2 it is an
  alias of ``numpy._core.multiarray._reconstruct``) and ``numpy._core.multiarray._reconstruct``;
- ``numpy.ndarray`` and ``numpy.dtype``;
- ``_codecs.encode`` restricted to the ``latin1`` codec: Python 3 writes ``bytes`` into a
  protocol-2 pickle as ``_codecs.encode(text, "latin1")``, so a protocol-2 pickle of float64
  arrays written by Python 3 needs it (files written by Python 2, like DEAP's, do not).

>>> from emolab.data.safe_pickle import load_numpy_pickle
>>> obj = load_numpy_pickle("s01.dat")   # doctest: +SKIP
>>> obj["data"].shape                    # doctest: +SKIP
(40, 40, 8064)
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle asks for anything but NumPy array reconstruction."""


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles of ``bytes`` use it, latin1 only."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    if not isinstance(text, str):
        raise UnsafePickleError("_codecs.encode may only encode text")
    return codecs.encode(text, "latin1", errors)


#: (module, name) -> the object handed to the unpickler.  Nothing else is importable.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays (and dicts, lists, strings, numbers) only.

    Parameters are those of :class:`pickle.Unpickler`; DEAP needs ``encoding="latin1"``, which
    :func:`load_numpy_pickle` passes.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: only NumPy array reconstruction is "
                "allowed in a DEAP .dat file"
            ) from None


def load_numpy_pickle(path: str | Path, *, encoding: str = "latin1") -> Any:
    """Load a (Python 2 or 3) pickle that contains only NumPy arrays and plain containers.

    Parameters
    ----------
    path : path-like
        The pickle file (e.g. DEAP's ``data_preprocessed_python/s01.dat``).
    encoding : str
        How Python 2 ``str`` objects are decoded; ``"latin1"`` keeps array buffers byte-exact
        (NumPy's own advice for loading Python 2 pickles).

    Returns
    -------
    object
        The unpickled object (for DEAP: a dict with ``"data"`` and ``"labels"``). Keys that a
        Python-2 pickle stored as byte strings come back as ``str``.

    Raises
    ------
    UnsafePickleError
        The file asks for a global other than NumPy array reconstruction (message names the file).
    pickle.UnpicklingError
        The file is truncated or not a pickle (message names the file).
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(raw), encoding=encoding).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}; the file is not a genuine DEAP pickle") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise pickle.UnpicklingError(
            f"{path}: cannot unpickle ({type(exc).__name__}: {exc}); the file is truncated or "
            f"corrupt ({len(raw)} bytes) - copy it again from the dataset archive"
        ) from None
