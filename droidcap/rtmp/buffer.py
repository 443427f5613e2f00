"""The receive buffer of one TCP direction: unconsumed bytes, absolute offsets, record marks.

Parsers read ``data`` directly from ``pos`` with ``struct.unpack_from`` and move ``pos`` forward
only once a whole unit (a header, a payload piece) is there — "commit" is the assignment to
``pos``, "rollback" is not doing it.  Once 8 KiB are consumed the rest moves to a fresh
bytearray, so with chunks over 8 KiB taken in pieces (``rtmp.chunks``) a buffer holds roughly
one TCP segment plus one partial chunk: a capture with thousands of connections keeps kilobytes
per direction, not the largest chunk each ever saw.

Each fed record leaves a mark ``(absolute end offset, frame, time)``; an event completing at
absolute offset ``x`` belongs to the first record whose end is ``>= x``: the one that delivered
its last byte.
"""

from __future__ import annotations

from collections import deque

__all__ = ["StreamBuffer"]

_COMPACT_AT = 1 << 13


class StreamBuffer:
    """Unconsumed bytes of one direction (``data[pos:]``) and where they came from."""

    __slots__ = ("_marks", "base", "data", "pos")

    def __init__(self) -> None:
        self.data = bytearray()
        self.pos = 0
        self.base = 0  # absolute stream offset of data[0]
        self._marks: deque[tuple[int, int, float]] = deque()

    def feed(self, chunk: bytes, frame: int, time: float) -> None:
        self.compact()
        self.data += chunk
        self._marks.append((self.base + len(self.data), frame, time))

    def compact(self) -> None:
        """Drop consumed bytes once there are enough of them (the decoder calls this after
        reading, too, so an idle direction does not keep what it has read)."""
        if self.pos >= _COMPACT_AT:
            # A new bytearray of what is left, not ``del data[:pos]``: deleting from the front
            # keeps the allocation, so every direction would keep the largest size it ever had.
            self.data = self.data[self.pos :]
            self.base += self.pos
            self.pos = 0
            marks = self._marks  # events complete at or after pos: older marks are dead
            while len(marks) > 1 and marks[0][0] < self.base:
                marks.popleft()

    @property
    def available(self) -> int:
        return len(self.data) - self.pos

    @property
    def offset(self) -> int:
        """Absolute stream offset of ``data[pos]``."""
        return self.base + self.pos

    def origin(self, end: int | None = None) -> tuple[int, float]:
        """``(frame, time)`` of the record holding the byte just before buffer index ``end``
        (default ``pos``).  Marks before it are forgotten: events complete in stream order."""
        x = self.base + (self.pos if end is None else end)
        marks = self._marks
        while len(marks) > 1 and marks[0][0] < x:
            marks.popleft()
        if not marks:
            return 0, 0.0
        _, frame, time = marks[0]
        return frame, time

    def marks_after(self, offset: int) -> tuple[tuple[int, int], ...]:
        """``(end offset, frame)`` of the records that delivered bytes after ``offset``."""
        return tuple((end, frame) for end, frame, _ in self._marks if end > offset)

    def last_origin(self) -> tuple[int, float]:
        """``(frame, time)`` of the newest record (for end-of-stream reports)."""
        if not self._marks:
            return 0, 0.0
        _, frame, time = self._marks[-1]
        return frame, time
