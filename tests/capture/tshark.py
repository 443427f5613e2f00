"""tshark as an independent oracle: its reassembled TCP streams, gaps included."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from droidcap.capture import Direction, FlowEvent, FlowOpened, StreamData, StreamGap

TSHARK = shutil.which("tshark")
_MISSING = re.compile(rb"^\[(\d+) bytes missing in capture file\]\x00?$")

Stream = list[bytes | int]  # data (adjacent chunks joined) and gap sizes


def _add(parts: Stream, item: bytes | int) -> None:
    if isinstance(item, bytes) and parts and isinstance(parts[-1], bytes):
        parts[-1] += item
    else:
        parts.append(item)


def follow(path: Path, streams: int) -> list[dict[tuple[str, int], Stream]]:
    """For tcp.stream 0..streams-1: each sending endpoint's reassembled bytes, as
    ``tshark -z follow,tcp,raw,N`` prints them ("[N bytes missing in capture file]" is a gap)."""
    assert TSHARK is not None, "tshark is not installed (apt-get install tshark)"
    args = [TSHARK, "-r", str(path), "-q"]
    for n in range(streams):
        args += ["-z", f"follow,tcp,raw,{n}"]
    text = subprocess.run(args, capture_output=True, check=True, timeout=300).stdout
    out: list[dict[tuple[str, int], Stream]] = [{} for _ in range(streams)]
    for section in text.split(b"===================================================================\n"):
        if not section.startswith(b"Follow: tcp,raw"):
            continue
        nodes: list[tuple[str, int]] = []
        result: dict[tuple[str, int], Stream] = {}
        for line in section.splitlines():
            if line.startswith(b"Filter: tcp.stream eq "):  # sections come in no set order
                out[int(line.rsplit(b" ", 1)[1])] = result
            elif line.startswith(b"Node "):
                host, _, port = line.split(b": ", 1)[1].decode().rpartition(":")
                nodes.append((host.strip("[]"), int(port)))
                result[nodes[-1]] = []
            elif line and not line.startswith((b"Follow:", b"Filter:")):
                node = nodes[1] if line.startswith(b"\t") else nodes[0]
                chunk = bytes.fromhex(line.strip().decode())
                missing = _MISSING.match(chunk)
                _add(result[node], int(missing.group(1)) if missing else chunk)
    return out


def coverage(path: Path) -> dict[tuple[int, tuple[str, int]], tuple[int, int]]:
    """Per (tcp.stream, sending endpoint): (payload bytes captured at least once, sequence span
    from the first to the last payload byte), from tshark's per-segment fields.

    A reassembler must deliver exactly the first number of bytes, and deliver plus report as gaps
    exactly the second: an oracle for lossy captures that does not depend on how tshark's own
    follow output treats holes.
    """
    assert TSHARK is not None, "tshark is not installed (apt-get install tshark)"
    fields = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq_raw", "tcp.len", "tcp.flags.syn"]
    args = [TSHARK, "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=/t"]
    for field in fields:
        args += ["-e", field]
    text = subprocess.run(args, capture_output=True, check=True, timeout=300).stdout.decode()
    ranges: dict[tuple[int, tuple[str, int]], list[tuple[int, int]]] = {}
    for line in text.splitlines():
        stream, src4, src6, port, seq, length, syn = line.split("\t")
        start = int(seq) + (1 if syn in ("1", "True") else 0)
        if int(length or 0):
            ranges.setdefault((int(stream), (src4 or src6, int(port))), []).append(
                (start, start + int(length)))
    out = {}
    for key, spans in ranges.items():
        base = spans[0][0]  # unwrap around the first segment (captures here do not reach 2 GiB)
        spans = sorted(((a - base + 2**31) % 2**32 - 2**31, (b - base + 2**31) % 2**32 - 2**31)
                       for a, b in spans)
        covered, reach = 0, spans[0][0]
        for a, b in spans:
            if b > reach:
                covered += b - max(a, reach)
                reach = b
        out[key] = (covered, reach - spans[0][0])
    return out


def stream_count(path: Path) -> int:
    assert TSHARK is not None, "tshark is not installed (apt-get install tshark)"
    text = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
                          capture_output=True, check=True, timeout=300).stdout
    return len({line for line in text.split() if line})


def ours(events: list[FlowEvent]) -> list[dict[tuple[str, int], Stream]]:
    """droidcap's events in the same shape as :func:`follow`."""
    flows: list[dict[tuple[str, int], Stream]] = []
    senders: list[dict[Direction, tuple[str, int]]] = []
    for event in events:
        if isinstance(event, FlowOpened):
            flows.append({event.client: [], event.server: []})
            senders.append({Direction.C2S: event.client, Direction.S2C: event.server})
        elif isinstance(event, StreamData):
            _add(flows[event.flow][senders[event.flow][event.dir]], event.data)
        elif isinstance(event, StreamGap):
            _add(flows[event.flow][senders[event.flow][event.dir]], event.size)
    return flows
