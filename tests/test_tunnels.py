"""RTMP inside tunnels: GTP-U, VXLAN, GRE, IP-in-IP, 6in4/4in6, MPLS, PPPoE, QinQ, nested.

Two kinds of input:
- captures of real Linux VXLAN tunnels between network namespaces, with a real nginx-rtmp and
  ffmpeg session inside, recorded on the underlay (tests/data/tunnels, make_tunnel_captures.py);
- committed lab captures re-encapsulated byte by byte (tests/capture/tunnelgen.py) in every
  other encapsulation, alone and nested, so that the decode must equal the plain one item for
  item — and tshark, which dissects all of them, must show the same RTMP messages as it does on
  the plain capture (its committed .tshark.tsv).
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidcap.capture import Record, TcpReassembler
from droidcap.capture.tunnels import MAX_DEPTH, locate_tunnelled
from droidcap.decode import decode_to, iter_items
from tests.capture import tunnelgen
from tests.capture.capwriter import Conversation, ipv4
from tests.conftest import DATA

CAPTURES = DATA / "captures"
TUNNELS = DATA / "tunnels"
REAL = json.loads((TUNNELS / "MANIFEST.json").read_text())
CAPTURE_MANIFEST = json.loads((CAPTURES / "MANIFEST.json").read_text())
TSHARK_COMMAND = CAPTURE_MANIFEST["tshark_command"]

# (wrap, source capture, outer path droidcap reports for its connections)
BUILT = {
    "gtp_u_qinq": (tunnelgen.in_gtp_u, "nginx_mtu1500",
                   ["vlan 100", "vlan 200", "ipv4 192.0.2.1 > 192.0.2.2", "udp 2152 > 2152", "gtp-u teid 0x1234"]),
    "vxlan_over_ipv6": (tunnelgen.in_vxlan, "nginx_mtu1500",
                        ["ipv6 2001:db8::1 > 2001:db8::2", "udp 49152 > 4789", "vxlan vni 42"]),
    "gretap_key_seq": (tunnelgen.in_gretap, "nginx_mtu1500",
                       ["ipv4 192.0.2.1 > 192.0.2.2", "gre key 99 seq 5", "ethernet", "vlan 300"]),
    "ipip": (tunnelgen.in_ipip, "nginx_mtu1500", ["ipv4 192.0.2.1 > 192.0.2.2"]),
    "4in6": (tunnelgen.in_4in6, "nginx_mtu1500", ["ipv6 2001:db8::1 > 2001:db8::2"]),
    "6in4": (tunnelgen.in_6in4, "nginx_ipv6", ["ipv4 192.0.2.1 > 192.0.2.2"]),
    "6in6": (tunnelgen.in_4in6, "nginx_ipv6", ["ipv6 2001:db8::1 > 2001:db8::2"]),
    "mpls": (tunnelgen.in_mpls, "nginx_mtu1500", ["mpls 16/17/1000"]),
    "pppoe": (tunnelgen.in_pppoe, "nginx_mtu1500", ["pppoe session 0x002a"]),
    "nested": (tunnelgen.in_nested, "nginx_mtu1500",
               ["vlan 10", "vlan 20", "pppoe session 0x0011", "ipv4 198.51.100.1 > 198.51.100.2", "gre key 7",
                "mpls 500/501", "ethernet", "ipv6 2001:db8::1 > 2001:db8::2", "udp 2152 > 2152",
                "gtp-u teid 0xbeef"]),
}
# tshark guesses what follows an MPLS stack; the nested case has a pseudowire control word
TSHARK_EXTRA = {"nested": ["-d", "mpls.label==501,pwethcw"]}


def document(path: Path) -> dict:
    out = io.StringIO()
    decode_to(out, iter_items(path), fmt="json")
    return json.loads(out.getvalue())


@cache
def plain(name: str) -> dict:
    return document(CAPTURES / CAPTURE_MANIFEST["captures"][name]["file"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tunnels")
    return {name: tunnelgen.rewrap(CAPTURES / CAPTURE_MANIFEST["captures"][source]["file"], out / f"{name}.pcap", wrap)
            for name, (wrap, source, _) in BUILT.items()}


@pytest.mark.parametrize("name", BUILT)
def test_a_tunnelled_capture_decodes_as_the_plain_one(name: str, built: dict[str, Path]) -> None:
    _, source, outer = BUILT[name]
    doc, base = document(built[name]), plain(source)
    assert doc["events"] == base["events"]  # same frames, times, inner endpoints, every item
    assert doc["notes"] == base["notes"]
    for conn, ref in zip(doc["connections"], base["connections"], strict=True):
        assert conn["outer"] == outer
        assert ref["outer"] == []
        assert {k: v for k, v in conn.items() if k != "outer"} == {k: v for k, v in ref.items() if k != "outer"}


def test_the_table_says_how_a_connection_travelled(built: dict[str, Path]) -> None:
    out = io.StringIO()
    decode_to(out, iter_items(built["gtp_u_qinq"]), fmt="table")
    assert ("| via vlan 100 > vlan 200 > ipv4 192.0.2.1 > 192.0.2.2 > udp 2152 > 2152 > gtp-u teid 0x1234"
            in out.getvalue().splitlines()[0])


def tshark_fields(path: Path, port: int, extra: list[str] = ()) -> str:
    """The manifest's tshark command (the one that made the committed .tshark.tsv files)."""
    argv = shlex.split(TSHARK_COMMAND.replace(" F ", f" {path} ", 1).replace("PORT", str(port)))
    done = subprocess.run([*argv[:1], *extra, *argv[1:]], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILT)
def test_tshark_sees_the_same_rtmp_messages_in_the_tunnel(name: str, built: dict[str, Path]) -> None:
    _, source, _ = BUILT[name]
    entry = CAPTURE_MANIFEST["captures"][source]
    reference = (CAPTURES / entry["file"]).with_suffix(".tshark.tsv").read_text()
    assert tshark_fields(built[name], entry["server"]["port"], TSHARK_EXTRA.get(name, [])) == reference


# -- real tunnels: Linux VXLAN between network namespaces ---------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_a_real_tunnelled_session_is_reported_by_its_innermost_addresses(name: str) -> None:
    facts = REAL[name]
    doc = document(TUNNELS / facts["file"])
    (conn,) = doc["connections"]
    client, server = facts["layers"][-1]["addresses"]
    def text(address: str, port: int | None = None) -> str:
        host = f"[{address}]" if ":" in address else address
        return host if port is None else f"{host}:{port}"
    assert conn["server"] == text(server, facts["port"]) and conn["client"].startswith(text(client) + ":")
    assert conn["role"] == "publisher" and conn["connect"]["app"] == "live"
    assert conn["state"] == "closed" and not conn["mid_connection"]
    assert conn["gaps"] == 0 and conn["skipped_bytes"] == 0 and conn["uncertain"] == 0
    under = facts["underlay"]
    assert conn["outer"][0] == f"{'ipv6' if ':' in under[0] else 'ipv4'} {under[0]} > {under[1]}"
    vnis = [p for p in conn["outer"] if p.startswith("vxlan vni ")]
    assert len(vnis) == len(facts["layers"])
    assert doc["notes"] == []
    counts = conn["counts"]["c2s"]
    assert counts["video"] >= 40 and counts["audio"] >= 60  # 2 s of 25 fps video and AAC audio


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_tshark_agrees_on_the_real_tunnelled_messages(name: str) -> None:
    facts = REAL[name]
    path = TUNNELS / facts["file"]
    theirs = []
    done = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "rtmpt.max_packet_size:16777216", "-d",
         f"tcp.port=={facts['port']},rtmpt", "-Y", "rtmpt", "-T", "fields", "-E", "occurrence=a", "-E",
         "aggregator=|", "-e", "frame.number", "-e", "rtmpt.header.typeid", "-e", "rtmpt.header.bodysize"],
        capture_output=True, text=True, timeout=120, check=True)
    for line in done.stdout.splitlines():
        frame, types, sizes = [*line.split("\t"), "", ""][:3]
        pairs = zip(types.split("|"), sizes.split("|"), strict=True)
        theirs += [(int(frame), int(t, 0), int(s)) for t, s in pairs if t]
    out = io.StringIO()
    decode_to(out, iter_items(path), fmt="ndjson")
    ours = [(r["frame"], r["type_id"], r["length"]) for r in map(json.loads, out.getvalue().splitlines())
            if r["kind"] == "message" and not r.get("aggregate")]
    assert len(ours) > 100 and ours == theirs


# -- edge cases --------------------------------------------------------------------------------


def frames_of_one_conversation(wrap) -> list[bytes]:
    conv = Conversation()
    return [wrap(p) for p in [*conv.handshake(), conv.segment(True, b"\x03" + bytes(1536))]]


def feed(frames: list[bytes]) -> list:
    tcp = TcpReassembler()
    out = []
    for n, frame in enumerate(frames, start=1):
        out += tcp.feed(Record(frame=n, time=float(n), linktype=1, data=frame, orig_len=len(frame)))
    return out + tcp.finish()


def test_gtp_signalling_and_other_udp_are_not_followed() -> None:
    inner = ipv4("10.0.0.1", "10.0.0.2", b"x" * 40)
    echo = tunnelgen.gtp_u(1, inner)
    echo = echo[:1] + b"\x01" + echo[2:]  # message type 1: echo request, not a G-PDU
    for payload in (tunnelgen.udp(2152, 2152, echo), tunnelgen.udp(5353, 53, tunnelgen.gtp_u(1, inner))):
        frame = tunnelgen.ether(0x0800, ipv4(*tunnelgen.OUTER4, payload, proto=17))
        assert locate_tunnelled(frame, 14) is None


def test_a_gtp_extension_header_of_length_zero_is_not_followed() -> None:
    inner = ipv4("10.0.0.1", "10.0.0.2", b"x" * 40, proto=6)
    good = tunnelgen.gtp_u(1, inner, extensions=((0x85, b"\x00\x01"),))
    bad = good[:12] + b"\x00" + good[13:]  # the extension header's length byte
    frame = tunnelgen.ether(0x0800, ipv4(*tunnelgen.OUTER4, tunnelgen.udp(2152, 2152, bad), proto=17))
    assert locate_tunnelled(frame, 14) is None


def test_encapsulations_nested_too_deep_are_a_note_not_a_hang() -> None:
    packet = ipv4("10.0.0.1", "10.0.0.2", b"\0" * 40, proto=6)
    for _ in range(MAX_DEPTH + 2):
        packet = ipv4(*tunnelgen.OUTER4, packet, proto=4)
    where = locate_tunnelled(packet, 0)
    assert isinstance(where, str) and "nested" in where


def test_a_plain_capture_has_no_outer_path() -> None:
    assert all(c["outer"] == [] for c in plain("nginx_mtu1500")["connections"])


_HEADERS = {
    "gtp": lambda rest: tunnelgen.udp(2152, 2152, b"\x34\xff" + rest),
    "vxlan": lambda rest: tunnelgen.udp(1, 4789, b"\x08" + rest),
    "gre": lambda rest: rest,
}


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(_HEADERS)), rest=st.binary(max_size=120), proto=st.sampled_from([4, 17, 41, 47]))
def test_garbage_inside_a_tunnel_never_raises(kind: str, rest: bytes, proto: int) -> None:
    payload = _HEADERS[kind](rest)
    frame = tunnelgen.ether(0x0800, ipv4(*tunnelgen.OUTER4, payload, proto=17 if kind != "gre" else proto))
    for ethertype in (0x0800, 0x8847, 0x8864, 0x88A8, 0x6558):
        data = frame[:12] + ethertype.to_bytes(2, "big") + (frame[14:] if ethertype == 0x0800 else rest)
        feed([data])  # notes or nothing; never an exception


@pytest.mark.rtmplab
@pytest.mark.slow
def test_a_fresh_vxlan_in_vxlan_recording_decodes_like_the_committed_one(tmp_path: Path) -> None:
    """The committed captures' recipe still works on this machine: record one again (two
    network namespaces, nested VXLAN, nginx-rtmp and ffmpeg inside) and decode it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tunnel_captures", TUNNELS / "make_tunnel_captures.py")
    assert spec is not None and spec.loader is not None
    maker = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = maker  # its dataclasses look their module up there
    spec.loader.exec_module(maker)
    facts = maker.record(maker.KINDS["vxlan_in_vxlan"], tmp_path / "fresh.pcap")
    (conn,) = document(tmp_path / facts["file"])["connections"]
    assert conn["role"] == "publisher" and conn["state"] == "closed" and conn["gaps"] == 0
    assert [p for p in conn["outer"] if p.startswith("vxlan")] == ["vxlan vni 44", "vxlan vni 45"]
    assert conn["server"] == "10.202.0.2:1935"


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_the_tshark_engine_reports_the_same_inner_endpoints_and_messages(name: str) -> None:
    from tests.test_tshark_crosscheck import records

    path = TUNNELS / REAL[name]["file"]
    key = lambda r: (r["conn"], r["client"], r["server"], r["dir"], r["frame"], r["type_id"], r["length"])  # noqa: E731
    native, tshark = records(path, "native"), records(path, "tshark")
    assert len(native) > 100 and [key(r) for r in tshark] == [key(r) for r in native]
