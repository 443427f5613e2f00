"""Shared helpers for the virtual device tests (fixtures come from droidcap.virtual.pytest_plugin)."""

from __future__ import annotations

import pytest

from droidcap.virtual.pytest_plugin import DEBIAN_ADB, bundled_adb

#: Both adb versions the project supports: Debian's adb 29 and the adb 36 of adbutils' wheel.
BOTH_ADBS = pytest.mark.parametrize("adb_server", [DEBIAN_ADB, bundled_adb()], indirect=True,
                                    ids=["adb29", "adb36"])
