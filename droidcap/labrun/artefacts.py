"""A run's files beside its pcap: the decoded ndjson, the summary JSON, a logcat excerpt.

Each is written through the library a script would use (``droidcap.decode``, ``summarise``), to
``NAME.partial`` first and renamed, so a report never points at half a file.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TextIO, cast

from droidcap.analysis.summary import CaptureSummary
from droidcap.decode import decode_to, iter_items
from droidcap.device.device import Device
from droidcap.device.errors import DeviceError


def write_ndjson(pcap: Path, out: Path) -> Path:
    """Every connection's decoded items (``droidcap decode --format ndjson``)."""
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as file:
        decode_to(cast(TextIO, file), iter_items(pcap), fmt="ndjson")
    os.replace(tmp, out)
    return out


def write_summary(summary: CaptureSummary, out: Path) -> Path:
    """``droidcap summary --json`` of the capture."""
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(summary.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def device_log_time(dev: Device) -> str:
    """The device's clock as ``logcat -T`` takes it (``MM-DD HH:MM:SS.mmm``, device local time)."""
    res = dev.transport.shell("date +'%m-%d %H:%M:%S.%N'", timeout=10.0, what="date")
    text = res.out.strip()
    if not res.ok or len(text) < 18:
        raise DeviceError(f"the device's clock did not answer: {res.err or text!r}")
    return text[:18]  # MM-DD HH:MM:SS.mmm (nanoseconds cut to milliseconds)


def write_logcat(dev: Device, since: str, out: Path) -> Path:
    """``logcat -d -T SINCE``: the device's log from the run's start; what it says, verbatim
    (a device without logcat leaves its error in the file)."""
    res = dev.transport.shell(f"logcat -d -T {shlex.quote(since)}", timeout=30.0, what="logcat")
    text = res.stdout.decode(errors="replace")
    if not res.ok:
        text += f"\n# logcat exited {res.exit_code}: {res.err}\n"
    out.write_text(text + ("" if text.endswith("\n") or not text else "\n"), encoding="utf-8")
    return out


__all__ = ["device_log_time", "write_logcat", "write_ndjson", "write_summary"]
