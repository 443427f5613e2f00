"""Pure parts of the device layer: filters, URLs, names, tcpdump's words, record boundaries."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from droidcap.capture.wholeness import WholenessChecker
from droidcap.device.adb import AttachedDevice, ServerAddress
from droidcap.device.captures import DeviceCapture, parse_counts, tcpdump_error
from droidcap.device.device import choose_serial
from droidcap.device.errors import AdbServerError, DeviceStateError, NoDeviceError
from droidcap.device.info import adb_ports, parse_getprop
from droidcap.device.record import capture_filter, url_port, valid_player, valid_url
from droidcap.device.adb import AdbServer
from droidcap.errors import CaptureFormatError, DeviceError


def test_default_filter_is_rtmp_and_the_url_port_never_adb():
    assert capture_filter(None, None, None) == "tcp port 1935"
    assert capture_filter(None, "rtmp://h:1935/a/b", None) == "tcp port 1935"
    assert capture_filter(None, "rtmp://h:8080/a/b", 5555) == \
        "(tcp port 1935 or tcp port 8080) and not (tcp port 5555)"
    assert capture_filter("", None, 5555) == "not (tcp port 5555)"
    assert capture_filter("udp or tcp", None, 41000) == "(udp or tcp) and not (tcp port 41000)"
    with pytest.raises(DeviceError):
        capture_filter("tcp\nport 1", None, None)


def test_urls_and_players_are_checked_before_anything_runs():
    assert url_port("rtmp://example.org/live/x") == 1935
    assert url_port("rtmps://example.org/live/x") == 443
    assert valid_url("rtmp://10.0.0.1:19350/live/x") == "rtmp://10.0.0.1:19350/live/x"
    for bad in ("http://x/y", "rtmp:///nohost", "rtmp://h/a\n/b"):
        with pytest.raises(DeviceError):
            valid_url(bad)
    assert valid_player("org.videolan.vlc") and valid_player("com.a.b/.Player")
    for bad in ("vlc; rm -rf /", "com.a.b/$(id)", "`id`", "com.a b"):
        with pytest.raises(DeviceError):
            valid_player(bad)


def test_capture_names_cannot_reach_the_shell():
    for bad in ("a b", "x;id", "$(id)", "../x", "a\nb", ""):
        with pytest.raises(DeviceError):
            DeviceCapture(name=bad)
    assert DeviceCapture(name="droidcap-127_0_0_1_5555-20261201-101010").pcap.startswith(
        "/data/local/tmp/droidcap/captures/")


def test_tcpdump_counts_and_errors_in_its_own_words():
    log = ("tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes\n"
           "12 packets captured\n15 packets received by filter\n0 packets dropped by kernel\n"
           "40 packets captured\n41 packets received by filter\n1 packet dropped by kernel\n")
    counts = parse_counts(log)
    assert counts is not None and (counts.captured, counts.received, counts.dropped) == (40, 41, 1)
    assert parse_counts("tcpdump: listening on any\n") is None
    assert tcpdump_error("tcpdump: can't parse filter expression: syntax error\n") == \
        "tcpdump: can't parse filter expression: syntax error"


def test_getprop_and_the_adb_transport_port():
    props = parse_getprop("[ro.product.model]: [Pixel 7]\n[service.adb.tcp.port]: [5555]\n[x]: []\n")
    assert props == {"ro.product.model": "Pixel 7", "service.adb.tcp.port": "5555", "x": ""}
    assert adb_ports("192.168.1.5:5555", {}) == (5555,)
    assert adb_ports("R58M123ABC", props) == (5555,)
    assert adb_ports("R58M123ABC", {}) == ()
    # Android 11+ wireless debugging: an mDNS serial, the TLS port in a property
    assert adb_ports("adb-R58M123ABC-x1Y2z3._adb-tls-connect._tcp",
                     {"service.adb.tls.port": "37123"}) == (37123,)
    assert capture_filter(None, None, (5555, 37123)) == \
        "(tcp port 1935) and not (tcp port 5555 or tcp port 37123)"


def test_server_address(monkeypatch):
    monkeypatch.delenv("ANDROID_ADB_SERVER_HOST", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_PORT", raising=False)
    assert ServerAddress.parse(None) == ServerAddress(host="127.0.0.1", port=5037)
    assert ServerAddress.parse("lab1:5038") == ServerAddress(host="lab1", port=5038)
    assert ServerAddress.parse(":6000").port == 6000 and not ServerAddress.parse(":6000").remote
    assert ServerAddress.parse("lab1:5038").remote
    monkeypatch.setenv("ANDROID_ADB_SERVER_HOST", "10.1.1.1")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5039")
    assert ServerAddress.parse(None) == ServerAddress(host="10.1.1.1", port=5039)
    with pytest.raises(AdbServerError):
        ServerAddress.parse("h:70000")


def test_choosing_a_device(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    server = AdbServer(ServerAddress())
    a = AttachedDevice(serial="A", state="device", tags={"model": "Pixel_7"})
    b = AttachedDevice(serial="B", state="device", tags={"model": "SM_A546B"})
    off = AttachedDevice(serial="C", state="unauthorized", tags={})
    assert choose_serial([a], None, server) == "A"
    assert choose_serial([a, off], None, server) == "A"
    with pytest.raises(NoDeviceError, match=r"2 devices attached: A \(Pixel_7\), B \(SM_A546B\)"):
        choose_serial([a, b], None, server)
    assert choose_serial([a, b], "B", server) == "B"
    monkeypatch.setenv("ANDROID_SERIAL", "A")
    assert choose_serial([a, b], None, server) == "A"
    with pytest.raises(DeviceStateError, match="Allow USB debugging"):
        choose_serial([a, off], "C", server)
    with pytest.raises(NoDeviceError, match="not attached"):
        choose_serial([a], "Z", server)
    monkeypatch.delenv("ANDROID_SERIAL")
    with pytest.raises(NoDeviceError, match="no device attached"):
        choose_serial([], None, server)


def _pcap(records: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 276)
    for i, data in enumerate(records):
        out += struct.pack("<IIII", i, 0, len(data), len(data)) + data
    return out


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 400), st.integers(1, 97))
def test_wholeness_finds_the_last_whole_record_however_the_bytes_are_split(records, cut, step):
    whole = _pcap(records)
    data = whole[:len(whole) - cut] if cut < len(whole) - 24 else whole
    checker = WholenessChecker()
    for i in range(0, len(data), step):
        checker.feed(data[i:i + step])
    verdict = checker.finish()
    # the answer: the longest prefix made of the header and whole records
    ends = [24]
    for r in records:
        ends.append(ends[-1] + 16 + len(r))
    expected = max(e for e in ends if e <= len(data))
    assert verdict.whole_length == expected and verdict.size == len(data)
    assert verdict.records == ends.index(expected)


def test_wholeness_refuses_what_is_not_a_capture():
    for data in (b"", b"\0" * 10, b"GIF89a" + b"\0" * 30):
        checker = WholenessChecker()
        with pytest.raises(CaptureFormatError):
            checker.feed(data)
            checker.finish()


def test_adb_errors_become_one_line_droidcap_errors():
    import socket

    import adbutils
    from adbutils.errors import AdbConnectionError

    from droidcap.device.adb import _adb_error
    from droidcap.device.errors import AdbDeadlineError

    server = ServerAddress(host="127.0.0.1", port=5037)
    cases = [
        (ConnectionResetError(104, "Connection reset by peer"), AdbServerError),
        (AdbConnectionError("connect to adb server failed"), AdbServerError),
        (socket.timeout("timed out"), AdbDeadlineError),
        (adbutils.AdbTimeout("adb recv timeout"), AdbDeadlineError),
        (adbutils.AdbError("device unauthorized."), DeviceStateError),
        (adbutils.AdbError("device offline"), DeviceStateError),
        (adbutils.AdbError("device 'X' not found"), NoDeviceError),
        (adbutils.AdbError("closed"), AdbServerError),
    ]
    for raw, kind in cases:
        err = _adb_error(raw, "X", server)
        assert isinstance(err, kind) and "\n" not in str(err), (raw, err)
