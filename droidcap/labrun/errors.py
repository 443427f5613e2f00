"""Errors of the lab runner: a lab file that cannot run, or no device to run it on.

Both are user errors (exit status 2 of ``droidcap lab``); failures of a device during a run are
results in the report, never exceptions.
"""

from __future__ import annotations

from pathlib import Path

from droidcap.errors import DroidcapError


class LabError(DroidcapError):
    """The lab cannot run at all."""


class LabFileError(LabError):
    """A lab file error, located: ``FILE:LINE: key: what is wrong; what is allowed``."""

    def __init__(self, path: Path | str, line: int | None, key: str, problem: str) -> None:
        self.path, self.line, self.key, self.problem = Path(path), line, key, problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class NoDevicesError(LabError):
    """No device matched the lab file's selection (or no adb server answered)."""


__all__ = ["LabError", "LabFileError", "NoDevicesError"]
