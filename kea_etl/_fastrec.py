"""Fast construction of frozen slotted records whose values are already canonical (internal).

``object.__setattr__`` on a frozen dataclass costs a C call with an attribute lookup per field;
at a million leases the 18 stores of a ``Lease4`` + ``Extracted`` are a large share of the run.
:func:`builder` instead fills an instance of a *mutable twin* class with the very same
``__slots__`` (plain attribute stores, specialised by the interpreter) and then switches the
instance's ``__class__`` to the frozen class. CPython allows the switch only between classes of
identical layout (same base, same slots), and checks it: the twin is verified once, at import.

Callers must pass canonical values (nothing is validated): the extractor has parsed and
checked every value itself; ``tests/extract/test_isc_leases.py`` pins the results equal to the
validating constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """``build(*values)`` -> a ``cls`` instance with its ``__slots__`` set in order, unvalidated."""
    slots: tuple[str, ...] = tuple(cls.__slots__)  # type: ignore[attr-defined]
    if any(not s.isidentifier() for s in slots) or "__dict__" in slots:
        raise TypeError(f"{cls.__name__}: not a plain slotted class")
    twin = type(f"_Mutable{cls.__name__}", cls.__bases__, {"__slots__": slots})
    args = ", ".join(slots)
    body = "".join(f"    o.{s} = {s}\n" for s in slots)
    src = (f"def build({args}):\n    o = _new(_twin)\n{body}"
           "    o.__class__ = _cls\n    return o\n")
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(src, namespace)  # generated from the class's own slot names only
    build: Callable[..., T] = namespace["build"]
    probe = build(*range(len(slots)))  # raises TypeError now if the layouts ever differ
    if type(probe) is not cls or [getattr(probe, s) for s in slots] != list(range(len(slots))):
        raise TypeError(f"{cls.__name__}: fast builder does not reproduce the class")
    return build
