"""``SlotArray``: the numpy arrays that view a slot, an item or a locked zone
in place (no copy).

A view's memory stays mapped for as long as any array derived from it lives
(its numpy ``base`` is a guard that holds the mapping), so no view ever
reads unmapped memory. But the slot is given back when its item is released
or its write slot committed, and the producer may then reuse it: a view
used after that would show another item's bytes. So every use of a
``SlotArray`` (indexing, assignment, ufuncs such as ``mean``, numpy
functions, ``copy``, ``tobytes``, printing) first checks that what it shows
is still held, and raises ``datahub.Released`` (a ``DataHubError``, code
228) when it is not. Arrays derived from a view (``data["samples"]``,
slices) are ``SlotArray`` too and check the same guard; the results of
computations (``data["samples"] * 2``) and ``copy()`` are plain ndarrays
that own their data, and a structured scalar (``data[()]``) is a copy.

What cannot be checked: a base-class array or buffer taken while the view
was held (``np.asarray(view)``, ``memoryview(view)`` before Python 3.12,
an address from ``view.ctypes``) outlives the check; used after the
release it reads mapped memory that may hold a later item (never a crash).
A slot or item belongs to one thread: numpy releases the GIL inside large
copies, so another thread releasing it meanwhile tears what is read.
"""

from typing import Any

import numpy as np

__all__ = ["SlotArray"]


def _check(array: Any) -> None:
    owner = getattr(array, "_dh_owner", None)
    if owner is not None and owner.released:
        from . import Released

        err = Released(
            f"{owner.what} was released, and this numpy view of it with it: copy what you "
            "need (`item.copy()`, `np.array(view)`) before leaving its `with` block"
        )
        err.code = 228
        raise err


def _plain(value: Any) -> Any:
    """``value`` as a base-class ndarray when it is a SlotArray (checked)."""
    if isinstance(value, SlotArray):
        _check(value)
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


class SlotArray(np.ndarray):
    """A numpy view of a slot, an item or a locked zone, in place; raises
    ``datahub.Released`` once what it shows is released."""

    _dh_owner: Any = None

    def __array_finalize__(self, obj: Any) -> None:
        if obj is not None:
            self._dh_owner = getattr(obj, "_dh_owner", None)

    def __getitem__(self, key: Any) -> Any:
        _check(self)
        found = super().__getitem__(key)
        # A structured scalar (`data[()]`) shares the slot's memory and is
        # no SlotArray: it is given as a copy.
        if isinstance(found, np.void):
            return found.copy()
        return found

    def view(self, *args: Any, **kwargs: Any) -> Any:
        _check(self)
        return super().view(*args, **kwargs)

    @property
    def flat(self) -> Any:
        _check(self)
        return super().flat

    @property
    def ctypes(self) -> Any:
        _check(self)
        return super().ctypes

    def __buffer__(self, flags: int) -> Any:  # Python >= 3.12: memoryview(), bytes()
        _check(self)
        return super().__buffer__(flags)  # type: ignore[misc]

    def __setitem__(self, key: Any, value: Any) -> None:
        _check(self)
        super().__setitem__(key, _plain(value))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        for value in inputs:
            if isinstance(value, SlotArray):
                _check(value)
        inputs = tuple(_plain(v) for v in inputs)
        if "out" in kwargs:
            kwargs["out"] = _plain(kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        _check(self)
        return func(*_plain(tuple(args)), **{k: _plain(v) for k, v in kwargs.items()})

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        _check(self)
        plain = self.view(np.ndarray)
        if dtype is not None and dtype != plain.dtype:
            return plain.astype(dtype)
        return plain.copy() if copy else plain

    def __repr__(self) -> str:
        _check(self)
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        _check(self)
        return str(self.view(np.ndarray))

    def __iter__(self) -> Any:
        _check(self)
        return super().__iter__()

    def __len__(self) -> int:
        _check(self)
        return super().__len__()

    def __float__(self) -> float:
        _check(self)
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        _check(self)
        return int(self.view(np.ndarray))

    def __index__(self) -> int:
        _check(self)
        return int(self.view(np.ndarray).__index__())

    def __bool__(self) -> bool:
        _check(self)
        return bool(self.view(np.ndarray))

    def __eq__(self, other: Any) -> Any:
        _check(self)
        return self.view(np.ndarray) == _plain(other)

    def __ne__(self, other: Any) -> Any:
        _check(self)
        return self.view(np.ndarray) != _plain(other)

    __hash__ = None

    def copy(self, order: Any = "C") -> Any:
        """An owned copy (a plain ndarray), which outlives the view."""
        _check(self)
        return np.array(self.view(np.ndarray), order=order, copy=True)

    def tobytes(self, order: Any = "C") -> bytes:
        _check(self)
        return bytes(self.view(np.ndarray).tobytes(order))

    def tolist(self) -> Any:
        _check(self)
        return self.view(np.ndarray).tolist()

    def item(self, *args: Any) -> Any:
        _check(self)
        return self.view(np.ndarray).item(*args)

    def astype(self, *args: Any, **kwargs: Any) -> Any:
        _check(self)
        return self.view(np.ndarray).astype(*args, **kwargs)

    def fill(self, value: Any) -> None:
        _check(self)
        self.view(np.ndarray).fill(value)
