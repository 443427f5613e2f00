"""Value mapping shared by the AMF0 and AMF3 codecs.

Decoded AMF values are plain JSON-able Python values (see docs/protocol-notes.md, "AMF value
mapping"): ``float``/``int``, ``bool``, ``str``, ``None``, ``dict`` and ``list``, plus a few tagged
dicts for the AMF types JSON has no word for (``{"$undefined": true}``, ``{"$date": ms, "tz": m}``,
``{"$xml": text}``, ``{"$bytes": hex, "$length": n}``, ``{"$ref": index}``,
``{"$unsupported": true}``).  Every decoded value passes ``json.dumps(value, allow_nan=False)``.

The encoders accept the same shapes back, plus :class:`EcmaArray` (a ``dict`` that AMF0 encodes as
an ECMA array) and ``bytes`` (an AMF3 ByteArray).
"""

from __future__ import annotations

import math
from typing import Any

from droidcap.errors import AmfError

__all__ = [
    "BYTES_PREVIEW",
    "UNDEFINED",
    "UNSUPPORTED",
    "AmfError",
    "EcmaArray",
    "is_tagged",
    "number_value",
]

#: How ``undefined`` decodes (a fresh dict each time; compare with ``==``).
UNDEFINED: dict[str, Any] = {"$undefined": True}
#: How the AMF0 ``unsupported`` marker decodes.
UNSUPPORTED: dict[str, Any] = {"$unsupported": True}
#: AMF3 ByteArrays keep at most this many bytes (as hex) plus their full ``$length``.
BYTES_PREVIEW = 256

_MAX_SAFE = 2.0**53
_TAGS = frozenset({"$undefined", "$date", "$xml", "$bytes", "$ref", "$unsupported"})


class EcmaArray(dict):  # type: ignore[type-arg]
    """A ``dict`` that :func:`droidcap.rtmp.amf0.encode_values` writes as an ECMA array (0x08)
    rather than an anonymous object.  Decoding gives a plain ``dict`` (equal to this one)."""

    __slots__ = ()


def number_value(x: float) -> float | int | str:
    """Map an IEEE double to its JSON-able form: integral values within ±2**53 become ``int``
    (JSON shows ``1``, not ``1.0``; ``-0.0`` becomes ``0``), NaN and the infinities become the
    strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, anything else stays ``float``."""
    if x.is_integer():
        if -_MAX_SAFE <= x <= _MAX_SAFE:
            return int(x)
        return x
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def is_tagged(value: dict[str, Any]) -> str | None:
    """The ``$tag`` of a tagged dict (``"$date"``, ``"$xml"``...), or None for a plain object."""
    if value and len(value) <= 2:
        for key in value:
            if key in _TAGS:
                return key
    return None
