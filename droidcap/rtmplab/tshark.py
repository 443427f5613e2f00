"""tshark as an oracle for lab captures — with the settings that make it trustworthy.

Without ``-o rtmpt.max_packet_size:16777216`` tshark mis-decodes every RTMP message over 32 KB
(and ignores larger Set Chunk Size values); without ``-d tcp.port==P,rtmpt`` it does not decode
RTMP on a port other than 1935.  Even so it can lose sync on a long connection and it cannot decode
a capture that starts mid-connection, so its output is a reference to compare with, not a truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from droidcap.rtmplab.procs import require_tool, run_bounded

RTMP_FIELDS: tuple[str, ...] = (
    "frame.number",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "rtmpt.header.format",
    "rtmpt.header.csid",
    "rtmpt.header.timestamp",
    "rtmpt.header.bodysize",
    "rtmpt.header.typeid",
    "rtmpt.header.streamid",
    "amf.string",
)


def tshark_base(pcap: Path, port: int) -> list[str]:
    require_tool("tshark")
    return ["tshark", "-n", "-r", str(pcap), "-o", "rtmpt.max_packet_size:16777216",
            "-d", f"tcp.port=={port},rtmpt"]


def rtmp_message_table(pcap: Path, port: int, fields: Sequence[str] = RTMP_FIELDS, *,
                       timeout: float = 120.0) -> str:
    """tshark's RTMP messages as TSV with a header row.  One row per frame; a frame carrying
    several messages lists each field's values joined by ``|`` in message order."""
    argv = [*tshark_base(pcap, port), "-Y", "rtmpt", "-T", "fields",
            "-E", "header=y", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|",
            "-E", "quote=n"]
    for f in fields:
        argv += ["-e", f]
    return run_bounded(argv, timeout=timeout).stdout.decode("utf-8", "replace")


def tcp_payload_lengths(pcap: Path, *, timeout: float = 120.0) -> list[int]:
    """``tcp.len`` of every TCP segment in the capture (read back with tshark)."""
    require_tool("tshark")
    out = run_bounded(["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-e", "tcp.len"],
                      timeout=timeout).stdout.decode()
    return [int(x) for x in out.split()]
