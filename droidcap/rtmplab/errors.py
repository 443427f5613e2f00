"""Errors of the RTMP lab.  All derive from :class:`droidcap.errors.DroidcapError`, so the CLI and
the benchmark catch one family; each message says what failed and what to look at."""

from __future__ import annotations

from droidcap.errors import DroidcapError


class LabError(DroidcapError):
    """A lab peer (server, publisher, player, tcpdump) could not be started or misbehaved."""


class LabToolMissingError(LabError):
    """A real tool the lab needs (nginx, ffmpeg, tcpdump, …) is not installed.

    The lab never fakes a missing peer: ``./dev test`` installs the packages, so a missing tool
    is a setup error, not a reason to skip."""


class LabTimeoutError(LabError):
    """A peer did not reach the awaited state (listening, publishing, exited) within its bound."""


class LabProcessError(LabError):
    """A peer exited early or with a status that means failure."""
