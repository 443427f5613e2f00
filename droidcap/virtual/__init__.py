"""A virtual Android device speaking the real adb wire protocol (see docs/virtual-device.md).

``VirtualDevice(profile, sandbox_dir).start()`` listens on 127.0.0.1 and runs real programs on the
host behind Android paths and tools; ``connect(adb_port)`` registers it with an adb server.
"""

from droidcap.virtual.daemon import FEATURES, VirtualDevice
from droidcap.virtual.profile import (
    BUILTIN_PROFILES,
    AppPackage,
    BuildType,
    DeviceProfile,
    ProfileError,
    RootMethod,
    load_profile,
)

__all__ = ["BUILTIN_PROFILES", "FEATURES", "AppPackage", "BuildType", "DeviceProfile",
           "ProfileError", "RootMethod", "VirtualDevice", "load_profile"]
