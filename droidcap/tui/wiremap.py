"""From a message's body offsets to the Hex pane's offsets in :attr:`MessageBytes.data`.

The body is the chunks' payloads back to back, each after its chunk header, so a field that
straddles a chunk boundary is several ranges on the wire, with the chunk header between them left
out (it belongs to no field).  Standard library only, no Textual.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from droidcap.tui.chunkmap import MessageBytes

ByteRange = tuple[int, int]  # [start, end) in MessageBytes.data
Ranges = tuple[ByteRange, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WireMap:
    """Where each chunk's payload sits in the body and on the wire."""

    body_starts: tuple[int, ...]  # body offset of each chunk's first payload byte
    wire_starts: tuple[int, ...]  # the same byte's offset in MessageBytes.data
    sizes: tuple[int, ...]

    @classmethod
    def of(cls, raw: MessageBytes) -> WireMap:
        body_starts: list[int] = []
        at = 0
        for ch in raw.chunks:
            body_starts.append(at)
            at += ch.payload_size
        return cls(body_starts=tuple(body_starts),
                   wire_starts=tuple(ch.start + ch.header_size for ch in raw.chunks),
                   sizes=tuple(ch.payload_size for ch in raw.chunks))

    def body(self, data: bytes) -> bytes:
        """The message body: ``data`` without its chunk headers."""
        return b"".join(data[w:w + n] for w, n in zip(self.wire_starts, self.sizes, strict=True))

    def ranges(self, start: int, end: int) -> Ranges:
        """The wire ranges of body bytes [start, end), one per chunk they touch."""
        out: list[ByteRange] = []
        i = max(bisect_right(self.body_starts, start) - 1, 0)
        while start < end and i < len(self.sizes):
            chunk_end = self.body_starts[i] + self.sizes[i]
            if start < chunk_end:
                stop = min(end, chunk_end)
                wire = self.wire_starts[i] + start - self.body_starts[i]
                out.append((wire, wire + stop - start))
                start = stop
            i += 1
        return tuple(out)
