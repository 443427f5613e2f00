#!/usr/bin/env python3
"""Regenerate the committed RTMP test captures with real peers (see docs/rtmplab.md).

    .venv/bin/python tests/data/captures/make_captures.py            # all scenarios
    .venv/bin/python tests/data/captures/make_captures.py --only nginx_ffmpeg_players

Each scenario is recorded with :func:`droidcap.rtmplab.record_session` (nginx-rtmp, node-media-server,
ffmpeg, rtmpdump, GStreamer and tcpdump, all real), then tshark's RTMP message list is written next
to it as ``<name>.tshark.tsv`` and ``MANIFEST.json`` records what the producers KNOW about it.
The damaged captures (gap, reordered/duplicated) are edits of the 1500-byte-MTU capture; the
manifest lists every removed, swapped or copied frame.  Needs root (tcpdump, ``unshare -n``).
Regenerating changes every file (timestamps, ports, encoder output): commit them together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from droidcap.rtmplab import pcapedit
from droidcap.rtmplab.session import SessionRecording, record_session
from droidcap.rtmplab.tshark import rtmp_message_table, tcp_payload_lengths

HERE = Path(__file__).resolve().parent
DURATION = 4.0

# name -> (what it is for, record_session keyword arguments)
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "nginx_ffmpeg_players": (
        "nginx-rtmp (chunk_size 4096), ffmpeg publisher, an ffmpeg and an rtmpdump player; host loopback "
        "(large TSO-sized segments).",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg", "rtmpdump")),
    ),
    "nginx_gst_publisher": (
        "nginx-rtmp, GStreamer publisher (rtmp2sink: outgoing chunk size 128, so every video frame is "
        "split into many chunks), one ffmpeg player.",
        dict(server="nginx", publisher="gstreamer", players=("ffmpeg",)),
    ),
    "nms_ffmpeg_players": (
        "node-media-server 2.7.4 (outgoing chunk size 60000, GOP cache burst to new players), ffmpeg "
        "publisher, an ffmpeg and an rtmpdump player.",
        dict(server="node-media-server", publisher="ffmpeg", players=("ffmpeg", "rtmpdump")),
    ),
    "nginx_any_sll2": (
        "nginx-rtmp, ffmpeg publisher and player, captured with `tcpdump -i any`: Linux cooked "
        "capture v2 (SLL2, DLT 276) instead of Ethernet.",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg",), link="any"),
    ),
    "nginx_mtu1500": (
        "nginx-rtmp, ffmpeg publisher, an ffmpeg and an rtmpdump player, inside a private network "
        "namespace whose lo has MTU 1500 and no offloads: every TCP payload is <= 1448 bytes, RTMP "
        "messages span many segments, as on a phone.  Server port 1935.",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg", "rtmpdump"), realistic_mtu=True),
    ),
    "nginx_midconnection": (
        "nginx-rtmp, ffmpeg publisher, an ffmpeg and an rtmpdump player; tcpdump started only after all "
        "three were connected and streaming: no handshake, no connect, no Set Chunk Size in the file "
        "(the decoder must assume or infer chunk sizes: 4096 both ways here).",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg", "rtmpdump"),
             start_capture_after_publish=True),
    ),
    "nginx_chunk128_acks_mtu1500": (
        "nginx-rtmp with chunk_size 128 (every message to the players split into 128-byte chunks) and "
        "ack_window 32768 (the players send Acknowledgement messages), ffmpeg publisher, an ffmpeg and an "
        "rtmpdump player, in the 1500-byte-MTU namespace (port 1935).",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg", "rtmpdump"), realistic_mtu=True,
             server_chunk_size=128, server_ack_window=32768),
    ),
    "nginx_ipv6": (
        "nginx-rtmp listening on [::1], ffmpeg publisher and player over IPv6 (rtmpdump cannot parse "
        "IPv6 URLs).",
        dict(server="nginx", publisher="ffmpeg", players=("ffmpeg",), host="::1"),
    ),
}

EDITS = {
    "nginx_mtu1500_gap": "nginx_mtu1500",
    "nginx_mtu1500_reordered": "nginx_mtu1500",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tool_versions() -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except OSError as exc:
            return f"unavailable: {exc}"
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else ""

    nms = HERE.parents[2] / ".lab/npm/node_modules/node-media-server/package.json"
    return {
        "nginx": first_line(["nginx", "-v"]),
        "libnginx-mod-rtmp": first_line(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp"]),
        "ffmpeg": first_line(["ffmpeg", "-version"]),
        "rtmpdump": first_line(["dpkg-query", "-W", "-f=${Version}", "rtmpdump"]),
        "gstreamer": first_line(["gst-launch-1.0", "--version"]),
        "node-media-server": json.loads(nms.read_text())["version"] if nms.exists() else "unknown",
        "node": first_line(["node", "--version"]),
        "tcpdump": first_line(["tcpdump", "--version"]),
        "tshark": first_line(["tshark", "--version"]),
    }


def tshark_summary(tsv: str, port: int) -> dict[str, Any]:
    """Per TCP connection and direction, how many RTMP messages of each type tshark decoded."""
    lines = tsv.splitlines()
    header = lines[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    per: dict[str, Counter[str]] = defaultdict(Counter)
    strings: dict[str, list[str]] = defaultdict(list)
    frames_without_type = 0
    for line in lines[1:]:
        f = line.split("\t")
        f += [""] * (len(header) - len(f))
        direction = "c2s" if f[col["tcp.dstport"]] == str(port) else "s2c"
        client = f[col["tcp.srcport"]] if direction == "c2s" else f[col["tcp.dstport"]]
        key = f"client_port {client} {direction}"
        types = [t for t in f[col["rtmpt.header.typeid"]].split("|") if t]
        if not types:
            frames_without_type += 1
        for t in types:
            per[key][str(int(t, 16))] += 1
        for s in f[col["amf.string"]].split("|"):
            if s and len(strings[key]) < 12 and s not in strings[key]:
                strings[key].append(s)
    return {
        "rows": len(lines) - 1,
        "rows_without_message_header": frames_without_type,
        "messages_by_typeid": {k: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for k, v in sorted(per.items())},
        "first_amf_strings": dict(sorted(strings.items())),
    }


def write_tshark(pcap: Path, port: int) -> tuple[str, dict[str, Any]]:
    tsv = rtmp_message_table(pcap, port)
    out = pcap.with_suffix(".tshark.tsv")
    out.write_text(tsv)
    return out.name, tshark_summary(tsv, port)


def oddities(rec: SessionRecording, summary: dict[str, Any]) -> list[str]:
    """Where tshark disagrees with what the publisher is known to have sent."""
    notes = []
    c2s = summary["messages_by_typeid"].get(f"client_port {rec.publisher_client_port} c2s", {})
    tags = rec.published.flv_tags
    if tags is not None:
        want_video, want_audio, source = tags.get(9, 0), tags.get(8, 0), "per its FLV copy"
    else:  # GStreamer: buffers produced + one sequence header each
        want_video = (rec.published.video_packets or 0) + 1
        want_audio = (rec.published.audio_packets or 0) + 1
        source = "buffers produced + sequence header; flvmux may differ by one at EOS"
    if rec.start_capture_after_publish:
        notes.append("capture starts mid-connection: tshark cannot find message boundaries and decodes "
                     "(almost) nothing; compare with the publisher's known counts instead")
    elif c2s:
        if c2s.get("9", 0) != want_video:
            notes.append(f"tshark decoded {c2s.get('9', 0)} video messages from the publisher; it sent "
                         f"{want_video} ({source})")
        if c2s.get("8", 0) != want_audio:
            notes.append(f"tshark decoded {c2s.get('8', 0)} audio messages from the publisher; it sent "
                         f"{want_audio} ({source})")
    if rec.published.flv_copy is not None and not rec.start_capture_after_publish:
        missing = tshark_missing(rec.published.flv_copy, rec.pcap.with_suffix(".tshark.tsv"),
                                 rec.publisher_client_port)
        if missing:
            notes.append("publisher messages (type, timestamp ms, body size) in the FLV copy that tshark "
                         f"does not list: {missing[:10]}" + (" …" if len(missing) > 10 else ""))
    if summary["rows_without_message_header"]:
        notes.append(f"{summary['rows_without_message_header']} tshark rows are RTMP frames with no message "
                     "header of their own (continuation chunks / segments of a message that started earlier)")
    return notes


def flv_tags(path: Path) -> list[tuple[int, int, int]]:
    """(type, timestamp, body size) of every tag of an FLV file."""
    data = path.read_bytes()
    pos = int.from_bytes(data[5:9], "big") + 4
    tags = []
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        tags.append((data[pos] & 0x1F, ts, size))
        pos += 11 + size + 4
    return tags


def tshark_missing(flv: Path, tsv: Path, client_port: int | None) -> list[tuple[int, int, int]]:
    """Audio/video messages the publisher sent (per its FLV copy) that tshark's list lacks."""
    lines = tsv.read_text().splitlines()
    col = {n: i for i, n in enumerate(lines[0].split("\t"))}
    seen: Counter[tuple[int, int, int]] = Counter()
    for line in lines[1:]:
        f = line.split("\t")
        if f[col["tcp.srcport"]] != str(client_port):
            continue
        for t, ts, size in zip(f[col["rtmpt.header.typeid"]].split("|"), f[col["rtmpt.header.timestamp"]].split("|"),
                               f[col["rtmpt.header.bodysize"]].split("|"), strict=False):
            if t and ts and size:
                seen[(int(t, 16), int(ts), int(size))] += 1
    missing = []
    for tag in flv_tags(flv):
        if tag[0] in (8, 9):
            if seen[tag]:
                seen[tag] -= 1
            else:
                missing.append(tag)
    return missing


def entry_for(name: str, description: str, rec: SessionRecording) -> dict[str, Any]:
    tsv_name, summary = write_tshark(rec.pcap, rec.server_port)
    lens = tcp_payload_lengths(rec.pcap)
    spec = rec.spec
    players = []
    for p, port in zip(rec.players, rec.player_client_ports, strict=True):
        if p.kind == "ffmpeg":
            got = {"video_packets_demuxed": p.video_packets, "audio_packets_demuxed": p.audio_packets,
                   "received_note": "ffmpeg's input summary: media packets; the sequence headers "
                                    "become extradata and are not counted"}
        else:
            got = {"flv_video_tags": p.video_packets, "flv_audio_tags": p.audio_packets,
                   "flv_bytes": p.flv_bytes,
                   "received_note": "tags of the FLV rtmpdump wrote (sequence headers included)"}
        players.append({
            "kind": p.kind, "client_port": port, "how_it_ended": p.how, "returncode": p.returncode,
            **got,
            # Neither ffmpeg nor rtmpdump sends Set Chunk Size when playing (see the .tshark.tsv).
            "out_chunk_size": 128,
        })
    return {
        "file": rec.pcap.name,
        "bytes": rec.pcap.stat().st_size,
        "sha256": sha256(rec.pcap),
        "description": description,
        "server": {"kind": rec.server, "version": rec.server_version, "host": rec.host,
                   "port": rec.server_port, "app": rec.app, "stream": rec.stream,
                   "out_chunk_size": rec.server_chunk_size, "ack_window": rec.server_ack_window},
        "publisher": {"kind": rec.publisher, "client_port": rec.publisher_client_port,
                      "out_chunk_size": rec.publisher_chunk_size,
                      "video": {"codec": "H.264", "width": spec.width, "height": spec.height, "fps": spec.fps,
                                "gop": spec.gop, "bitrate": spec.video_bitrate,
                                "frames_published": rec.published.video_packets,
                                "bytes_published": rec.published.video_bytes},
                      "audio": {"codec": "AAC-LC", "sample_rate": spec.audio_rate,
                                "channels": spec.audio_channels, "bitrate": spec.audio_bitrate,
                                "packets_published": rec.published.audio_packets,
                                "bytes_published": rec.published.audio_bytes},
                      "metadata": dict(spec.metadata),
                      "flv_copy": rec.published.flv_copy.name if rec.published.flv_copy else None,
                      "flv_tags_sent": ({str(k): v for k, v in sorted(rec.published.flv_tags.items())}
                                        if rec.published.flv_tags is not None else None),
                      "note": ("flv_copy is the FLV tag stream the publisher sent (ffmpeg -f tee / GStreamer "
                               "tee after flvmux): one RTMP message per tag, same type, timestamp and body. "
                               "ffmpeg: video tags = frames + AVC sequence header + AVC end-of-sequence; "
                               "audio = packets + AAC sequence header; one @setDataFrame(onMetaData). "
                               "GStreamer's flvmux repeats onMetaData; whether rtmp2sink forwards every "
                               "script tag is not verified: trust its audio/video tags, not its script count"
                               if rec.published.flv_tags is not None else
                               "GStreamer: frames/packets are buffers generated; flvmux adds one sequence "
                               "header per track and an onMetaData")},
        "players": players,
        "duration_s": spec.duration,
        "link": {"interface": rec.link, "linktype": rec.linktype,
                 "linktype_name": {1: "EN10MB (Ethernet)", 276: "LINUX_SLL2"}.get(rec.linktype, "?")},
        "realistic_mtu": rec.realistic_mtu,
        "mtu": rec.mtu,
        "max_tcp_payload_expected": rec.max_tcp_payload,
        "max_tcp_payload_seen": max(lens) if lens else 0,
        "packets": rec.capture.packets_captured,
        "tcpdump_dropped_by_kernel": rec.capture.dropped_by_kernel,
        "starts_mid_connection": rec.start_capture_after_publish,
        "edits": None,
        "recorded_at": rec.started_at,
        "tshark": {"file": tsv_name, **summary, "oddities": oddities(rec, summary)},
    }


def make_gap(src: Path, dst: Path, base: dict[str, Any]) -> dict[str, Any]:
    """Remove 3 consecutive data segments of the publisher's upload and 1 of a player's download
    (both chosen at full-size segments, i.e. inside a message larger than one segment)."""
    cap = pcapedit.read_pcap(src)
    segs = [s for s in pcapedit.tcp_segments(cap) if s.payload_len > 0]
    port = base["server"]["port"]
    pub = base["publisher"]["client_port"]
    player = base["players"][0]["client_port"]
    up = [s for s in segs if s.sport == pub and s.dport == port]
    down = [s for s in segs if s.sport == port and s.dport == player]
    # Starting at two full-size segments: the gap falls inside a large (key)frame message and
    # runs past its end, the hard case to resynchronise from.
    i = _full_segment_from(up, len(up) // 2, 2)
    j = _full_segment_from(down, len(down) // 2, 1)
    removed_up = up[i:i + 3]
    removed_down = down[j:j + 1]
    edited = pcapedit.drop_frames(cap, {s.frame for s in removed_up + removed_down})
    pcapedit.write_pcap(dst, edited)

    def describe(ss: list[pcapedit.TcpSegment], who: str) -> dict[str, Any]:
        return {"connection": who, "flow": f"{ss[0].src}:{ss[0].sport} -> {ss[0].dst}:{ss[0].dport}",
                "original_frames": [s.frame for s in ss], "tcp_seq_first": ss[0].seq,
                "tcp_seq_end": (ss[-1].seq + ss[-1].payload_len) % 2**32,
                "bytes_missing": sum(s.payload_len for s in ss)}

    return {"source": src.name, "kind": "removed segments (gap)",
            "removed": [describe(removed_up, "publisher upload"),
                        describe(removed_down, f"{base['players'][0]['kind']} player download")],
            "note": "only data segments were removed; the receivers' ACKs for them are still in the file"}


def _full_segment_from(segs: list[pcapedit.TcpSegment], start: int, run: int) -> int:
    """Index of the first run of ``run`` maximum-size segments at or after ``start``."""
    full = max(s.payload_len for s in segs)
    for i in range(start, len(segs) - run + 1):
        if all(s.payload_len == full for s in segs[i:i + run]):
            return i
    raise SystemExit(f"no run of {run} full-size segments after index {start}")


def make_reordered(src: Path, dst: Path, base: dict[str, Any]) -> dict[str, Any]:
    """Swap two consecutive data segments of a player's download; duplicate one publisher segment."""
    cap = pcapedit.read_pcap(src)
    segs = [s for s in pcapedit.tcp_segments(cap) if s.payload_len > 0]
    port = base["server"]["port"]
    pub = base["publisher"]["client_port"]
    player = base["players"][0]["client_port"]
    up = [s for s in segs if s.sport == pub and s.dport == port]
    down = [s for s in segs if s.sport == port and s.dport == player]
    k = _full_segment_from(down, len(down) // 2, 2)
    a, b = down[k], down[k + 1]
    m = _full_segment_from(up, len(up) // 3, 1)
    dup, after = up[m], up[m + 2]
    edited = pcapedit.swap_frames(cap, a.frame, b.frame)
    edited = pcapedit.duplicate_frame(edited, dup.frame, after=after.frame)
    pcapedit.write_pcap(dst, edited)
    return {"source": src.name, "kind": "reordered + duplicated segments",
            "swapped": {"connection": f"{base['players'][0]['kind']} player download",
                        "flow": f"{a.src}:{a.sport} -> {a.dst}:{a.dport}",
                        "original_frames": [a.frame, b.frame], "tcp_seqs": [a.seq, b.seq],
                        "note": "the later segment (higher seq) now comes first; timestamps kept in place"},
            "duplicated": {"connection": "publisher upload", "flow": f"{dup.src}:{dup.sport} -> {dup.dst}:{dup.dport}",
                           "original_frame": dup.frame, "tcp_seq": dup.seq, "payload_len": dup.payload_len,
                           "inserted_after_original_frame": after.frame,
                           "new_frame_number_of_copy": after.frame + 1,
                           "note": "an exact retransmission of bytes already delivered two segments earlier"},
            "frame_numbers": "original_frames refer to the source capture; the edited file has one extra "
                             "frame after inserted_after_original_frame"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="scenario names to (re)make; default all")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--duration", type=float, default=DURATION)
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    captures: dict[str, Any] = manifest.get("captures", {})
    wanted = set(args.only) if args.only else set(SCENARIOS) | set(EDITS)
    unknown = wanted - set(SCENARIOS) - set(EDITS)
    if unknown:
        ap.error(f"unknown scenarios: {sorted(unknown)}")
    # An edited capture derives from its source: remaking the source remakes its edits.
    wanted |= {e for e, src in EDITS.items() if src in wanted}
    for e in wanted & set(EDITS):
        if EDITS[e] not in wanted and EDITS[e] not in captures:
            ap.error(f"{e} is an edit of {EDITS[e]}, which is not recorded yet: add it to --only")
    for name, (description, kwargs) in SCENARIOS.items():
        if name not in wanted:
            continue
        t0 = time.monotonic()
        flv = out / f"{name}.publisher.flv"
        rec = record_session(out / f"{name}.pcap", duration=args.duration, publisher_flv=flv, **kwargs)
        captures[name] = entry_for(name, description, rec)
        print(f"{name}: {captures[name]['bytes']} bytes, {captures[name]['packets']} packets, "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    for name, source in EDITS.items():
        if name not in wanted:
            continue
        base = captures[source]
        dst = out / f"{name}.pcap"
        maker = make_gap if name.endswith("_gap") else make_reordered
        edits = maker(out / base["file"], dst, base)
        entry = json.loads(json.dumps(base))
        entry.update(file=dst.name, bytes=dst.stat().st_size, sha256=sha256(dst), edits=edits,
                     packets=len(pcapedit.read_pcap(dst).records),
                     description=f"{base['description']}  EDITED: {edits['kind']} (see edits).")
        tsv_name, summary = write_tshark(dst, base["server"]["port"])
        entry["tshark"] = {"file": tsv_name, **summary,
                           "oddities": ["edited capture: compare with the source's tshark output; where "
                                        "tshark's reassembly gives up after the edit is tshark's choice, "
                                        "not a fact about the stream"]}
        captures[name] = entry
        print(f"{name}: {entry['bytes']} bytes (edit of {source})", file=sys.stderr)
    manifest = {
        "about": "RTMP test captures made with real peers by make_captures.py (droidcap.rtmplab). Facts here "
                 "come from the producers (configs, ffmpeg's own muxing summary, players' receive counts), "
                 "not from decoding the capture. 'tshark' is a reference only; see docs/rtmplab.md.",
        "regenerate": ".venv/bin/python tests/data/captures/make_captures.py [--only NAME ...]",
        "tshark_command": "tshark -n -r F -o rtmpt.max_packet_size:16777216 -d tcp.port==PORT,rtmpt -Y rtmpt "
                          "-T fields -E header=y -E separator=/t -E occurrence=a -E aggregator='|' -E quote=n "
                          "-e frame.number -e tcp.stream -e tcp.srcport -e tcp.dstport -e rtmpt.header.format "
                          "-e rtmpt.header.csid -e rtmpt.header.timestamp -e rtmpt.header.bodysize "
                          "-e rtmpt.header.typeid -e rtmpt.header.streamid -e amf.string",
        "tshark_known_gaps": "tshark 4.0.17 misses messages that a sender starts with a type-3 chunk header "
                             "(same size, type and timestamp delta as the previous message on that chunk "
                             "stream: valid RTMP, a new message). ffmpeg does this for equal-sized AAC packets; "
                             "each capture's tshark.oddities lists the (type, timestamp, size) tshark lacks. "
                             "With 128-byte chunks (GStreamer) tshark loses almost all audio and gives some video "
                             "messages wrong timestamps (e.g. the 2233-byte one: 41 ms in the FLV copy, 23 ms in "
                             "tshark).",
        "tools": tool_versions(),
        "captures": dict(sorted(captures.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
