"""TCP reassembly: captured records in, per-flow, per-direction byte streams out.

:class:`TcpReassembler` is sans-IO: :meth:`~TcpReassembler.feed` takes one record and returns the
events it completes; :meth:`~TcpReassembler.finish` ends every open direction at end of capture.

The rules, all in this module:

- A flow is a TCP 4-tuple; flows are numbered in order of first appearance (any segment opens one,
  as in Wireshark's ``tcp.stream``).  A SYN (without ACK) on a tuple whose flow has ended, or with
  a different initial sequence number, starts a new flow (port reuse); what was still open of the
  old one ends as at end of capture.
- The client is the SYN sender (or the receiver of a SYN-ACK).  With no SYN or SYN-ACK captured,
  it is the sender of the first captured segment and ``FlowOpened.syn_seen`` is False.
- A direction's stream starts after its SYN, or, without one, at its first segment that carries
  data or FIN.  Sequence numbers are unwrapped against the next expected byte, so they wrap past
  2**32 without notice.
- Bytes already delivered (retransmissions, the old part of an overlap) are dropped: first
  captured wins.  Segments ahead of the next expected byte wait in a per-direction buffer and are
  delivered in order when the hole fills.
- Missing bytes are reported as a :class:`StreamGap` with their exact size, never filled.  A hole
  is given up on ``ack_grace`` capture seconds after the other side acknowledged bytes in or past
  it (the receiver has them, so no retransmission will come: the capture missed them); else when
  the direction's buffer exceeds ``max_buffered`` bytes (or all directions together exceed
  ``max_buffered_total``), at FIN or RST, and at :meth:`finish`.  Payload bytes a snaplen cut off
  are a gap at once.
- FIN ends its direction once every byte before it is accounted for (delivered or a gap).  RST
  ends both directions.  Every direction of every flow gets exactly one :class:`StreamEnd`.
- Memory is bounded whatever the capture: at most ``max_flows`` flows are open at once — past
  that, the least recently active eighth end early (reason "evicted"; one :class:`CaptureNote`
  the first time); a later segment of theirs opens a new flow, as mid-connection.  Ended
  flows are remembered (to drop their stray retransmissions) up to ``max_flows`` of them.
- Event ``frame``/``time``: StreamData carries the record whose payload held the chunk's last
  byte; StreamGap the record with which the stream resumes after the hole (the snapped record for
  a snaplen gap, the current record when nothing resumes); FlowOpened and StreamEnd the record
  being fed (the last record of the capture for "eof"; the FIN's record for a FIN whose bytes
  before it were never all captured).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from heapq import heappop, heappush
from struct import Struct
from typing import Any

from droidcap.capture.events import (
    CaptureNote,
    Direction,
    FlowEvent,
    FlowOpened,
    Record,
    StreamData,
    StreamEnd,
    StreamGap,
)
from droidcap.capture.ip import locate_tcp
from droidcap.capture.links import LINK_LAYERS, LinkLayer, unsupported
from droidcap.capture.pcap import RawRecord
from droidcap.capture.tunnels import describe, locate_tunnelled

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_IPPROTO_TCP = 6
_MASK32 = 0xFFFFFFFF
_NEVER = float("inf")
_HALF32 = 0x80000000
# source port, destination port, sequence, acknowledgement, data offset + flags
_TCP = Struct("!HHIIH")
# After the EtherType: an IPv4 header's version/IHL, total length, flags + fragment offset,
# protocol, addresses; then the TCP fields above.  See _link_path.
_IPV4_TCP = "BxH2xHxB2x8sHHIIH"
_ETHERTYPE_IPV4 = 0x0800
_C2S, _S2C = Direction.C2S, Direction.S2C

Output = list[FlowEvent | CaptureNote]

_new = object.__new__
_set_flow, _set_dir, _set_data, _set_frame, _set_time = (
    getattr(StreamData, name).__set__ for name in StreamData.__slots__
)


def _not_ip(data: bytes) -> int:
    """The IP offset of records whose link type is skipped: none."""
    return -1


# How the hot path reads one link type: (unpack of link + IPv4 + TCP headers in one call, or
# None; offset of the IP header for that unpack; bytes that unpack needs; the IP-offset function
# for every other frame).
_LinkPath = tuple[Callable[[bytes], tuple[Any, ...]] | None, int, int, Callable[[bytes], int]]


def _link_path(layer: LinkLayer) -> _LinkPath:
    """A fixed-size link header with an EtherType at a fixed place gets a one-call unpack of
    EtherType, IPv4 and TCP header fields: most captured frames are Ethernet or SLL/SLL2, IPv4
    without options, TCP — three Python-level parsing steps become one C call."""
    if layer.ethertype_at is None or layer.ip_at is None:
        return None, 0, 0, layer.ip_offset
    pad = layer.ip_at - layer.ethertype_at - 2
    fast = Struct(f"!{layer.ethertype_at}xH{pad}x{_IPV4_TCP}")
    return fast.unpack_from, layer.ip_at, layer.ip_at + 40, layer.ip_offset


def stream_data(flow: int, direction: Direction, data: bytes, frame: int, time: float) -> StreamData:
    """``StreamData(flow=..., dir=..., data=..., frame=..., time=...)`` at half the cost.

    A frozen dataclass's ``__init__`` must store each field through ``object.__setattr__``; setting
    the slots through their descriptors does the same in half the time, and this is the one
    object built per packet.  Same fields, same values: the tests compare it with the real
    constructor, field by field.
    """
    event = _new(StreamData)
    _set_flow(event, flow)
    _set_dir(event, direction)
    _set_data(event, data)
    _set_frame(event, frame)
    _set_time(event, time)
    return event


# An out-of-order segment: (start, arrival tiebreak, captured bytes, end, frame, time).  ``end`` is
# where the segment ends on the wire, past the captured bytes when the snaplen cut it.
_Held = tuple[int, int, bytes, int, int, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumePoint:
    """Where one direction's byte stream stands: a reassembler given it (``resume=``) picks that
    direction up mid-connection at exactly this byte, so a re-read of a capture can start from a
    record inside a connection and still deliver the same stream (earlier bytes, retransmitted or
    not, are dropped; later ones wait for it)."""

    key: tuple[bytes, int, int]  # (addresses, source port, destination port) of its segments
    seq: int  # 32-bit sequence number of the next byte to deliver

    def advanced(self, count: int) -> ResumePoint:
        """The point ``count`` bytes further on."""
        return ResumePoint(key=self.key, seq=(self.seq + count) & _MASK32)


class _Half:
    """Reassembly state of one direction of one flow."""

    __slots__ = (
        "flow", "dir", "key", "peer", "next", "expect", "isn", "fin", "ended", "held", "held_bytes",
        "acked", "deadline", "last", "fin_at",
    )

    def __init__(self, flow: int, direction: Direction, key: tuple[bytes, int, int]) -> None:
        self.flow = flow
        self.dir = direction
        self.key = key  # (addresses, source port, destination port) of this direction's segments
        self.last = 0  # frame of the latest segment: eviction picks the least recently active
        self.peer: _Half = self
        self.next: int = -1  # next expected byte, unwrapped; -1 until the stream has a start
        # ``next`` mod 2**32 while the fast path may take the next segment, else -1 (never equal
        # to a 32-bit sequence number): no hole pending, direction open.
        self.expect = -1
        self.isn: int | None = None  # sequence number of the SYN, when one was seen
        self.fin: int | None = None  # unwrapped sequence number of the FIN
        self.fin_at: tuple[int, float] = (0, 0.0)  # frame and time of the record that carried it
        self.ended = False
        self.held: list[_Held] = []  # heap of out-of-order segments
        self.held_bytes = 0
        # The peer acknowledged up to ``acked`` (unwrapped) past the hole before the held segments;
        # at capture time ``deadline`` the hole up to there is given up (see TcpReassembler._acked).
        self.acked = -1
        self.deadline = _NEVER

    def sync(self) -> None:
        """Recompute :attr:`expect` after the slow path changed anything."""
        nxt = self.next
        self.expect = nxt & _MASK32 if nxt >= 0 and not self.held and not self.ended and self.fin is None else -1


class TcpReassembler:
    """Reassembles the TCP flows of a capture, record by record (sans-IO)."""

    def __init__(
        self,
        *,
        max_buffered: int = 2 * 1024 * 1024,
        max_buffered_total: int = 32 * 1024 * 1024,
        ack_grace: float = 1.0,
        max_flows: int = 10_000,
        resume: Iterable[ResumePoint] = (),
    ) -> None:
        """``max_buffered``: out-of-order bytes held per direction before the hole in front of
        them is declared a gap; ``max_buffered_total``: the same bound over all directions, so a
        capture with many flows cannot add up to unbounded memory either; ``ack_grace``: capture
        seconds a hole the peer has acknowledged may still be filled by a late-captured segment;
        ``max_flows``: flows open at once, and ended flows remembered (see the module doc);
        ``resume``: directions to pick up mid-connection at a known byte (:class:`ResumePoint`)."""
        self._resume = {point.key: point.seq for point in resume}
        self.max_buffered = max_buffered
        self.max_buffered_total = max_buffered_total
        self.ack_grace = ack_grace
        self.max_flows = max_flows
        self._ended: dict[int, tuple[_Half, _Half]] = {}  # ended flows still remembered, oldest first
        self._evicted = 0  # flows ended early to stay within max_flows
        self._stalled: dict[_Half, None] = {}  # halves with an acknowledged hole, oldest first
        self._deadline = _NEVER  # the earliest of their deadlines
        self._halves: dict[tuple[bytes, int, int], _Half] = {}
        self._open: dict[int, tuple[_Half, _Half]] = {}  # flows with a direction still open
        self._flows = 0
        self._held_total = 0
        self._tiebreak = 0
        self._addr_text: dict[bytes, str] = {}
        self._links: dict[int, _LinkPath] = {}
        self._last_frame = 0
        self._last_time = 0.0

    def feed(self, record: Record) -> Output:
        """The events this record completes (often none, usually one StreamData)."""
        return self.feed_raw([(
            record.frame, record.time, record.linktype, record.data, record.orig_len, record.interface
        )])

    def feed_raw(self, items: Iterable[RawRecord | CaptureNote]) -> Output:
        """:meth:`feed` for a batch of :data:`RawRecord` tuples, as ``CaptureReader.read_raw()``
        returns them; notes among them pass through in place.

        This is the hot path, one loop over the batch with its lookups bound once: the next
        in-order segment of an open direction costs a dict lookup and one StreamData; everything
        else (SYN, FIN, RST, reordering, loss, snaplen) goes to :meth:`_segment`.
        """
        out: Output = []
        append = out.append
        links = self._links
        find_half = self._halves.get
        unpack_tcp = _TCP.unpack_from
        frame, time = self._last_frame, self._last_time
        for item in items:
            if type(item) is not tuple:
                append(item)  # type: ignore[arg-type]  # a CaptureNote
                continue
            frame, time, linktype, data, orig_len, interface = item
            if time >= self._deadline:
                self._expire(frame, time, out)
            link = links.get(linktype)
            if link is None:
                link = self._link(linktype, interface, frame, out)
            unpack_fast, ip_at, fast_size, ip_offset = link
            size = len(data)
            if unpack_fast is not None and size >= fast_size:
                etype, vihl, total, frag, proto, addrs, sport, dport, seq, ack, offflags = unpack_fast(data)
                # IPv4 without options, TCP, not a fragment, a length that holds both headers
                fast = etype == _ETHERTYPE_IPV4 and vihl == 0x45 and proto == _IPPROTO_TCP and (
                    not frag & 0x3FFF and total >= 40
                )
            else:
                fast = False
            if fast:
                t = ip_at + 20
                ip_end = ip_at + total
            else:
                off = ip_offset(data)
                if off < 0:
                    continue
                where = locate_tcp(data, off)
                if where is None:  # not TCP: perhaps a tunnel with TCP inside (GTP-U, GRE, ...)
                    where = locate_tunnelled(data, off)
                if type(where) is not tuple:
                    if where is not None:
                        append(CaptureNote(frame=frame, message=where))  # type: ignore[arg-type]
                    continue
                addrs, t, ip_end = where
                if size < t + 20:
                    append(CaptureNote(frame=frame, message="TCP header cut short by the snaplen"))
                    continue
                sport, dport, seq, ack, offflags = unpack_tcp(data, t)
                if ip_end < 0:
                    ip_end = orig_len
            start = t + ((offflags >> 10) & 0x3C)
            if start > ip_end or start < t + 20:
                append(CaptureNote(frame=frame, message="TCP header length does not fit its packet"))
                continue
            payload = data[start:ip_end]  # Ethernet padding and trailers lie beyond ip_end
            half = find_half((addrs, sport, dport))
            if half is not None and seq == half.expect and not offflags & 7 and ip_end <= size:
                # Fast path: the next in-order segment of an open direction, nothing held, not
                # SYN/FIN/RST, not snapped.
                half.last = frame
                if payload:
                    half.next += len(payload)
                    half.expect = (seq + len(payload)) & _MASK32
                    append(stream_data(half.flow, half.dir, payload, frame, time))
            else:
                if ip_end > size:  # cut by the snaplen (or a length field that lies beyond the wire)
                    ip_end = max(size, min(ip_end, orig_len))
                if half is None or (offflags & 0x12 == _SYN and self._reused(half, seq)):
                    outer = () if fast else self._outer(linktype, data)
                    half = self._open_flow(addrs, sport, dport, offflags, frame, time, out, outer)
                half.last = frame
                self._segment(half, offflags, seq, payload, ip_end - start, frame, time, out)
            if half.peer.held and offflags & _ACK:
                self._acked(half.peer, ack, time)
        self._last_frame, self._last_time = frame, time
        return out

    def stream_start(self, flow: int, direction: Direction) -> ResumePoint | None:
        """The first byte of a direction's stream (the one after its SYN), None if its SYN was not
        seen or the flow is forgotten; with :meth:`ResumePoint.advanced` it names any later byte
        of the stream."""
        pair = self._open.get(flow) or self._ended.get(flow)  # the caller may lag behind: ended
        for half in pair or ():
            if half.dir is direction and half.isn is not None:
                return ResumePoint(key=half.key, seq=(half.isn + 1) & _MASK32)
        return None

    def finish(self) -> Output:
        """End of capture: every direction still open gives up its holes and ends with "eof" (or
        "fin" when its FIN was captured but bytes before it never were)."""
        out: Output = []
        for c2s, s2c in list(self._open.values()):
            for half in (c2s, s2c):
                if half.fin is None:
                    self._close(half, "eof", self._last_frame, self._last_time, out)
                else:  # a FIN seen, bytes before it lost: it ended at its FIN, not at the capture's end
                    self._close(half, "fin", *half.fin_at, out)
        self._open.clear()
        return out

    def _link(self, linktype: int, interface: int, frame: int, out: Output) -> _LinkPath:
        """Look a link type up in the table once; later records find it in a plain dict.

        An unsupported link type is an error when it is all the capture has shown so far (a pcap
        file has one link type, so that is the first record).  Once a supported interface has
        delivered records — a pcapng with, say, a Bluetooth interface besides wlan0 — its records
        are skipped with one note instead of failing the whole capture.
        """
        layer = LINK_LAYERS.get(linktype)
        if layer is not None:
            path = self._links[linktype] = _link_path(layer)
            return path
        error = unsupported(linktype, interface)
        if not any(lt in LINK_LAYERS for lt in self._links):
            raise error
        path = self._links[linktype] = (None, 0, 0, _not_ip)
        out.append(CaptureNote(frame=frame, message=f"records skipped: {error}"))
        return path

    # -- flows --------------------------------------------------------------------------------

    def _reused(self, half: _Half, seq: int) -> bool:
        """Does this SYN start a new connection on an old 4-tuple?"""
        if half.ended or half.peer.ended:
            return True
        return half.isn is not None and half.isn != seq

    @staticmethod
    def _outer(linktype: int, data: bytes) -> tuple[str, ...]:
        """How a flow's first segment travelled: the encapsulations around its IP packet."""
        layer = LINK_LAYERS[linktype]
        return describe(layer.ethertype_at, layer.ip_at, layer.ip_offset, data)

    def _open_flow(
        self, addrs: bytes, sport: int, dport: int, flags: int, frame: int, time: float, out: Output,
        outer: tuple[str, ...] = (),
    ) -> _Half:
        """Number a new flow, decide its client, announce it; return the sender's direction."""
        key = (addrs, sport, dport)
        old = self._halves.get(key)
        if old is not None:  # port reuse: what the old flow left open ends here
            for half in (old, old.peer):
                self._close(half, "eof", frame, time, out)
            self._retire(old)
        n = len(addrs) // 2
        src = (self._text(addrs[:n]), sport)
        dst = (self._text(addrs[n:]), dport)
        flow = self._flows
        self._flows += 1
        sender_is_server = flags & (_SYN | _ACK) == (_SYN | _ACK)
        mine = _Half(flow, _S2C if sender_is_server else _C2S, key)
        theirs = _Half(flow, mine.dir.reverse, (addrs[n:] + addrs[:n], dport, sport))
        mine.peer, theirs.peer = theirs, mine
        self._halves[mine.key] = mine
        self._halves[theirs.key] = theirs
        if len(self._open) >= self.max_flows:
            self._evict(frame, time, out)
        self._open[flow] = (theirs, mine) if sender_is_server else (mine, theirs)
        client, server = (dst, src) if sender_is_server else (src, dst)
        out.append(FlowOpened(
            flow=flow, client=client, server=server, syn_seen=bool(flags & _SYN), frame=frame, time=time,
            outer=outer,
        ))
        return mine

    def _retire(self, half: _Half) -> None:
        """The flow of ``half`` has ended both ways: remember it a while (its stray segments are
        dropped, not taken for a new flow), then forget it."""
        if self._open.pop(half.flow, None) is None:
            return
        self._ended[half.flow] = (half, half.peer)
        while len(self._ended) > self.max_flows:
            for old in self._ended.pop(next(iter(self._ended))):
                if self._halves.get(old.key) is old:  # not since taken over by port reuse
                    del self._halves[old.key]

    def _evict(self, frame: int, time: float, out: Output) -> None:
        """Too many flows open: end the least recently active eighth of them."""
        flows = sorted(self._open.values(), key=lambda pair: max(pair[0].last, pair[1].last))
        victims = flows[: max(1, len(flows) // 8)]
        if not self._evicted:  # one note is enough; the flows' ends say "evicted"
            out.append(CaptureNote(frame=frame, message=(
                f"more than {self.max_flows} TCP flows open at once: from here on the least "
                "recently active are ended early (a later segment of one starts a new flow)"
            )))
        self._evicted += len(victims)
        for pair in victims:
            for half in pair:
                self._close(half, "evicted", frame, time, out)
                if self._halves.get(half.key) is half:  # forgotten, not remembered as ended:
                    del self._halves[half.key]  # a later segment starts a new flow
            self._open.pop(pair[0].flow, None)

    def _text(self, raw: bytes) -> str:
        text = self._addr_text.get(raw)
        if text is None:
            text = self._addr_text[raw] = str(ipaddress.ip_address(raw))
        return text

    # -- segments -----------------------------------------------------------------------------

    def _segment(
        self, half: _Half, flags: int, seq: int, payload: bytes, length: int, frame: int, time: float,
        out: Output,
    ) -> None:
        """The slow path: SYN, FIN, RST, out-of-order, overlapping and snapped segments."""
        if flags & _RST:  # from either side, even after its FIN: the connection is gone
            for h in (half, half.peer):
                self._close(h, "rst", frame, time, out)
            self._retire(half)
            return
        if half.ended:
            return  # after FIN or RST: retransmissions and stray segments
        if flags & _SYN:
            if half.next < 0:
                half.isn = seq
                half.next = seq + 1
                if (resume_at := self._resume.pop(half.key, None)) is not None:
                    half.next = self._unwrap(resume_at, seq + 1)  # a re-read from inside its stream
            start = self._unwrap(seq, half.next) + 1
        elif half.next >= 0:
            start = self._unwrap(seq, half.next)
        elif (resume_at := self._resume.pop(half.key, None)) is not None:
            half.next = self._unwrap(resume_at, seq)
            start = self._unwrap(seq, half.next)
        elif length or flags & _FIN:
            half.next = start = seq
        else:
            return  # a pure ACK before the direction's stream has a starting point
        if length:
            self._data(half, start, payload, start + length, frame, time, out)
        if flags & _FIN and half.fin is None:
            half.fin = start + length
            half.fin_at = (frame, time)
        if half.fin is not None and half.next >= half.fin:
            self._close(half, "fin", frame, time, out)
            if half.peer.ended:
                self._retire(half)
        half.sync()

    @staticmethod
    def _unwrap(seq: int, near: int) -> int:
        """The unwrapped sequence number closest to ``near`` whose low 32 bits are ``seq``."""
        return near + ((seq - near + _HALF32) & _MASK32) - _HALF32

    def _data(
        self, half: _Half, start: int, payload: bytes, end: int, frame: int, time: float, out: Output
    ) -> None:
        nxt = half.next
        if end <= nxt:
            return  # a retransmission of bytes already delivered
        if start > nxt:
            self._tiebreak += 1
            heappush(half.held, (start, self._tiebreak, payload, end, frame, time))
            half.held_bytes += len(payload)
            self._held_total += len(payload)
            while half.held and (
                half.held_bytes > self.max_buffered or self._held_total > self.max_buffered_total
            ):
                self._skip(half, frame, time, out)
            return
        self._deliver(half, start, payload, end, frame, time, out)
        if half.held:
            self._drain(half, out)

    def _deliver(
        self, half: _Half, start: int, payload: bytes, end: int, frame: int, time: float, out: Output
    ) -> None:
        """Emit a segment that starts at or before ``next``: its new bytes, then any snapped tail."""
        nxt = half.next
        if start < nxt:  # overlap: the first captured copy of those bytes won
            payload = payload[nxt - start :]
            start = nxt
        if payload:
            out.append(StreamData(flow=half.flow, dir=half.dir, data=payload, frame=frame, time=time))
        missing = end - start - len(payload)
        if missing > 0:
            out.append(StreamGap(flow=half.flow, dir=half.dir, size=missing, frame=frame, time=time))
        half.next = end

    def _drain(self, half: _Half, out: Output) -> None:
        """Deliver held segments that the stream has caught up with."""
        held = half.held
        while held and held[0][0] <= half.next:
            start, _tie, payload, end, frame, time = heappop(held)
            half.held_bytes -= len(payload)
            self._held_total -= len(payload)
            if end > half.next:
                self._deliver(half, start, payload, end, frame, time, out)

    def _skip(self, half: _Half, frame: int, time: float, out: Output) -> None:
        """Give up on the hole before the first held segment: a gap, then what follows it."""
        start, _tie, _payload, _end, resume_frame, resume_time = half.held[0]
        out.append(StreamGap(
            flow=half.flow, dir=half.dir, size=start - half.next,
            frame=resume_frame, time=resume_time,
        ))
        half.next = start
        self._drain(half, out)

    def _acked(self, half: _Half, ack: int, time: float) -> None:
        """The peer acknowledged bytes of ``half`` that sit in a hole.

        The receiver has them, so no retransmission will come: the capture missed them.  A capture
        shows data before the ACK for it, but not always exactly (per-CPU buffers, merged
        interfaces, edited files), so the hole is given up only if it is still open ``ack_grace``
        capture seconds later — then, not at the buffer bound or the end of the capture.
        """
        acked = self._unwrap(ack, half.next)
        if half.fin is not None:
            acked = min(acked, half.fin)
        if acked <= half.next:
            return
        half.acked = max(half.acked, acked)
        if half.deadline == _NEVER:
            half.deadline = time + self.ack_grace
            self._stalled[half] = None
            self._deadline = min(self._deadline, half.deadline)

    def _expire(self, frame: int, time: float, out: Output) -> None:
        """Give up the acknowledged holes whose grace ran out by ``time``."""
        for half in [h for h in self._stalled if h.deadline <= time]:
            del self._stalled[half]
            half.deadline = _NEVER
            if half.ended:
                continue
            while half.held and half.acked > half.next:
                if half.acked >= half.held[0][0]:
                    self._skip(half, frame, time, out)
                else:
                    out.append(StreamGap(
                        flow=half.flow, dir=half.dir, size=half.acked - half.next, frame=frame, time=time
                    ))
                    half.next = half.acked
            if half.fin is not None and half.next >= half.fin:
                self._close(half, "fin", *half.fin_at, out)
                if half.peer.ended:
                    self._retire(half)
            half.sync()
        self._deadline = min((h.deadline for h in self._stalled), default=_NEVER)

    def _close(self, half: _Half, reason: str, frame: int, time: float, out: Output) -> None:
        """End one direction: deliver what is held (gaps between), then StreamEnd."""
        if half.ended:
            return
        fin = half.fin
        while half.held and (fin is None or half.held[0][0] < fin):
            self._skip(half, frame, time, out)
        if half.held:  # bytes past the FIN: nothing a receiver would accept
            self._held_total -= half.held_bytes
            half.held.clear()
            half.held_bytes = 0
        if half.fin is not None and 0 <= half.next < half.fin:
            out.append(StreamGap(
                flow=half.flow, dir=half.dir, size=half.fin - half.next, frame=frame, time=time
            ))
            half.next = half.fin
        half.ended = True
        half.expect = -1
        out.append(StreamEnd(flow=half.flow, dir=half.dir, reason=reason, frame=frame, time=time))
