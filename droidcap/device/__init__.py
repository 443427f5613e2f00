"""Android devices over adb: choose, probe, root, push tcpdump, record, pull, stop.

The one layer that imports adbutils (in :mod:`droidcap.device.adb`); everything droidcap does on a
device goes through it, every call with a deadline.  ``Device.connect()`` and ``record()`` are the
API scripts and the lab runner use; the CLI is a thin layer over them.
"""

from droidcap.device.device import Device, DeviceReport, list_devices
from droidcap.device.errors import (
                                    AdbDeadlineError,
                                    AdbServerError,
                                    CaptureError,
                                    CaptureRunningError,
                                    DeviceError,
                                    DeviceStateError,
                                    NoDeviceError,
                                    NotRootedError,
                                    VerifyError,
)
from droidcap.device.record import Recording, RecordOptions, RecordResult, record

__all__ = ["AdbDeadlineError", "AdbServerError", "CaptureError", "CaptureRunningError", "Device",
           "DeviceError", "DeviceReport", "DeviceStateError", "NoDeviceError", "NotRootedError",
           "RecordOptions", "RecordResult", "Recording", "VerifyError", "list_devices", "record"]
