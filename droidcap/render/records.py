"""One JSON object per handshake part, message, gap or skip: droidcap's public ndjson schema.

The field names are a contract documented in docs/ndjson.md; the tshark engine produces the same.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from droidcap.pipeline import DecodedEvent
from droidcap.rtmp.events import Gap, HandshakePart, Message, OversizeMessage, Skipped, Synchronised
from droidcap.session import endpoint_text

# Names accepted by ``--type``: message type names, plus groups and the non-message kinds.
TYPE_GROUPS: dict[str, frozenset[str]] = {
    "command": frozenset({"command_amf0", "command_amf3"}),
    "data": frozenset({"data_amf0", "data_amf3"}),
    "shared_object": frozenset({"shared_object_amf0", "shared_object_amf3"}),
    "media": frozenset({"audio", "video"}),
    "control": frozenset({"set_chunk_size", "abort", "acknowledgement", "user_control",
                          "window_ack_size", "set_peer_bandwidth"}),
}
KINDS = ("handshake", "message", "gap", "skipped", "sync")


def kind_of(item: DecodedEvent) -> str:
    ev = item.event
    if type(ev) is Message or type(ev) is OversizeMessage:
        return "message"
    if type(ev) is HandshakePart:
        return "handshake"
    if type(ev) is Gap:
        return "gap"
    if type(ev) is Skipped:
        return "skipped"
    return "sync"


def _type_name(type_id: int) -> str:
    from droidcap.rtmp.events import MESSAGE_TYPE_NAMES

    return MESSAGE_TYPE_NAMES.get(type_id, f"unknown({type_id})")


@lru_cache(maxsize=4096)
def _endpoints(client: tuple[str, int], server: tuple[str, int]) -> tuple[str, str]:
    # Formatted once per connection, not once per message: this runs for every line of output.
    return endpoint_text(client), endpoint_text(server)


def event_record(item: DecodedEvent) -> dict[str, Any]:
    """The ndjson object for one decoded event."""
    c = item.connection
    ev = item.event
    client, server = _endpoints(c.client, c.server)
    out: dict[str, Any] = {
        "conn": c.conn,
        "client": client,
        "server": server,
        "dir": item.dir.value,
        "frame": ev.frame,
        "time": ev.time,
    }
    if type(ev) is Message:
        out["kind"] = "message"
        out["csid"] = ev.csid
        out["fmt"] = ev.fmt
        out["timestamp"] = ev.timestamp
        out["type_id"] = ev.type_id
        out["type"] = ev.type_name
        out["stream_id"] = ev.stream_id
        out["length"] = ev.length
        out.update(ev.body.json_fields())
        if ev.aggregate:
            out["aggregate"] = True
        if ev.uncertain:
            out["uncertain"] = True
    elif type(ev) is HandshakePart:
        out["kind"] = "handshake"
        out.update(ev.json_fields())
    elif type(ev) is Gap:
        out["kind"] = "gap"
        out["size"] = ev.size
    elif type(ev) is Skipped:
        out["kind"] = "skipped"
        out["size"] = ev.size
        out["reason"] = ev.reason
    elif type(ev) is OversizeMessage:
        out["kind"] = "message"
        out["csid"] = ev.csid
        out["fmt"] = ev.fmt
        out["timestamp"] = ev.timestamp
        out["type_id"] = ev.type_id
        out["type"] = _type_name(ev.type_id)
        out["stream_id"] = ev.stream_id
        out["length"] = ev.length
        out["oversize"] = True
    elif type(ev) is Synchronised:
        out["kind"] = "sync"
        out["chunk_size"] = ev.chunk_size
        out["confirmed"] = ev.confirmed
    return out


def resolve_types(names: list[str]) -> frozenset[str]:
    """Expand ``--type`` names into message type names and kinds; ValueError names a bad one."""
    from droidcap.rtmp.events import MESSAGE_TYPE_NAMES

    known = set(MESSAGE_TYPE_NAMES.values())
    wanted: set[str] = set()
    for name in names:
        if name in TYPE_GROUPS:
            wanted |= TYPE_GROUPS[name]
        elif name in known or name in KINDS:
            wanted.add(name)
        else:
            choices = ", ".join(sorted(known | set(TYPE_GROUPS) | set(KINDS)))
            raise ValueError(f"unknown --type {name!r}; choose from: {choices}")
    return frozenset(wanted)


def matches(item: DecodedEvent, wanted: frozenset[str]) -> bool:
    ev = item.event
    if type(ev) is Message or type(ev) is OversizeMessage:
        return "message" in wanted or _type_name(ev.type_id) in wanted
    return kind_of(item) in wanted
