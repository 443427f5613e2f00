"""Sans-IO capture layer: pcap/pcapng records → link layer → IP/TCP → reassembled byte streams.

Standard library only.  Feed bytes in, take events out; files, pipes and tests drive it alike.

- :class:`CaptureReader` (``reader``): bytes → :class:`Record` / :class:`CaptureNote`
  (``pcap`` and ``pcapng`` parse the two formats).
- :class:`TcpReassembler` (``tcp``): records → :data:`FlowEvent` (``links`` strips link layers
  through a table, ``ip`` finds the TCP segment, ``tunnels`` the innermost one inside GTP-U,
  VXLAN, GRE, IP-in-IP, MPLS, PPPoE and VLAN encapsulations, through tables of their own).
- ``files``: the IO driver — :func:`iter_records` and :func:`iter_flow_events` (or
  :func:`iter_flow_batches`) over a path, standard input, a pipe, or a growing file.

The hot path skips the per-record dataclass: ``CaptureReader.read_raw()`` returns records as plain
:data:`RawRecord` tuples and ``TcpReassembler.feed_raw()`` takes them in batches; ``events()`` and
``feed()`` are the same thing one :class:`Record` at a time.
"""

from droidcap.capture.events import (
    CaptureNote,
    Direction,
    Endpoint,
    FlowEvent,
    FlowOpened,
    Record,
    StreamData,
    StreamEnd,
    StreamGap,
)
from droidcap.capture.files import Source, iter_flow_batches, iter_flow_events, iter_records
from droidcap.capture.links import LINK_LAYERS, LinkLayer, register
from droidcap.capture.pcap import RawRecord
from droidcap.capture.reader import CaptureReader
from droidcap.capture.tcp import TcpReassembler

__all__ = [
    "LINK_LAYERS",
    "CaptureNote",
    "CaptureReader",
    "Direction",
    "Endpoint",
    "FlowEvent",
    "FlowOpened",
    "LinkLayer",
    "RawRecord",
    "Record",
    "Source",
    "StreamData",
    "StreamEnd",
    "StreamGap",
    "TcpReassembler",
    "iter_flow_batches",
    "iter_flow_events",
    "iter_records",
    "register",
]
