"""A virtual Android device speaking the real adb wire protocol (see docs/virtual-device.md)."""
