"""Errors of the device layer: each says, in one line, what went wrong and what to do.

They all derive from :class:`droidcap.errors.DeviceError`, so the CLI prints them as one line and
exits non-zero, and scripts catch one family.
"""

from __future__ import annotations

from droidcap.errors import DeviceError


class AdbServerError(DeviceError):
    """The adb server cannot be reached or answered something unexpected."""


class AdbDeadlineError(DeviceError):
    """An adb call did not finish within its deadline (device hung, cable pulled, server gone)."""


class NoDeviceError(DeviceError):
    """No device to talk to, several when one was needed, or the named one is not attached."""


class DeviceStateError(DeviceError):
    """The device is attached but offline or unauthorized."""


class NotRootedError(DeviceError):
    """Capturing needs root and the device offers none droidcap can use."""


class CaptureError(DeviceError):
    """tcpdump could not start, stopped on its own, or its capture cannot be trusted."""


class CaptureRunningError(CaptureError):
    """A capture droidcap started is still running on the device."""


class VerifyError(DeviceError):
    """A pulled file does not match the device's copy (size or SHA-256)."""


__all__ = ["AdbDeadlineError", "AdbServerError", "CaptureError", "CaptureRunningError",
           "DeviceError", "DeviceStateError", "NoDeviceError", "NotRootedError", "VerifyError"]
