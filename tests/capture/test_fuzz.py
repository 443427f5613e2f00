"""Hostile input: the capture layer raises only its documented errors, in bounded time and memory.

Any other exception escaping is a bug (docs/architecture.md, "Errors").
"""

from __future__ import annotations

import io
import random
import time
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from droidcap.capture import TcpReassembler, iter_flow_events
from droidcap.errors import CaptureFormatError, UnsupportedLinkTypeError
from tests.capture.capwriter import (
    ACK,
    FIN,
    Conversation,
    Pcapng,
    Pkt,
    ethernet,
    ext_opts,
    ipv4,
    ipv6,
    pcap,
    sll2,
    tcp,
)

EXPECTED = (CaptureFormatError, UnsupportedLinkTypeError)


def _ips() -> list[bytes]:
    conv = Conversation()
    v6 = Conversation(client=("2001:db8::1", 5000), server=("2001:db8::2", 1935))
    ips = [*conv.handshake(), *v6.handshake()]
    for n in range(6):
        ips.append(conv.segment(n % 2 == 0, bytes([n]) * (50 + 30 * n)))
        ips.append(v6.segment(True, b"six" * n))
    ips.append(ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, 3, 0, ACK, b"frag"), frag=0x2000))
    ips.append(ipv6("::1", "::2", tcp(1, 2, 3, 0, ACK, b"ext"), ext=[(0, ext_opts()), (60, ext_opts(1))]))
    ips.append(conv.segment(True, flags=FIN | ACK))
    return ips


def _seeds() -> list[bytes]:
    ips = _ips()
    classic = pcap([Pkt(n, ethernet(ip, vlans=[0x8100] if n % 3 else [])) for n, ip in enumerate(ips)])
    ng = Pcapng(">").shb().idb(1).idb(276, tsresol=9).idb(101)
    for n, ip in enumerate(ips):
        iface = n % 3
        ng.epb(iface, float(n), (ethernet, sll2, bytes)[iface](ip))
    ng.spb(ethernet(ips[0])).block(0x77, b"unknown")
    return [classic, ng.bytes()]


SEEDS = _seeds()


def run(blob: bytes) -> None:
    try:
        for _ in iter_flow_events(io.BytesIO(blob), reassembler=TcpReassembler(max_buffered=64 * 1024)):
            pass
    except EXPECTED:
        pass


def mutate(rng: random.Random, blob: bytes) -> bytes:
    data = bytearray(blob)
    for _ in range(rng.randint(1, 12)):
        what = rng.random()
        pos = rng.randrange(len(data)) if data else 0
        if what < 0.5 and data:
            data[pos] = rng.randrange(256)
        elif what < 0.65:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif what < 0.8:
            del data[pos : pos + rng.randint(1, 64)]
        elif what < 0.9 and data:
            end = min(len(data), pos + rng.randint(1, 200))
            data[pos:pos] = data[pos:end]
        else:
            data[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x01\x00"])
    return bytes(data)


def test_mutated_captures_raise_only_capture_errors() -> None:
    rng = random.Random(1234)
    tracemalloc.start()
    start = time.monotonic()
    try:
        for n in range(1500):
            blob = mutate(rng, SEEDS[n % len(SEEDS)])
            run(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 40
    assert peak < 32 * 1024 * 1024  # a corrupt length never makes the reader buffer gigabytes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from([b"", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00",
                                                   b"\x0a\x0d\x0d\x0a", SEEDS[0][:24], SEEDS[1][:64]]))
def test_random_bytes_raise_only_capture_errors(tail: bytes, head: bytes) -> None:
    run(head + tail)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=0, max_size=120), max_size=20), st.integers(0, 300))
def test_random_packets_in_a_valid_file_raise_only_capture_errors(frames: list[bytes], linktype: int) -> None:
    """Valid container, garbage frames of any link type: TCP/IP parsing must hold up."""
    run(pcap([Pkt(n, f) for n, f in enumerate(frames)], linktype=linktype))
    run(pcap([Pkt(n, ipv4("10.0.0.1", "10.0.0.2", f)) for n, f in enumerate(frames)], linktype=101))
    run(pcap([Pkt(n, ipv6("::1", "::2", f)) for n, f in enumerate(frames)], linktype=101))
