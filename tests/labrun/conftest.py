"""Fixtures for lab-run tests: namespace 'hosts' with their own adb servers, a private root cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from droidcap.virtual import adb_host
from tests.labrun.hosts import LabHost, free_index


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root-method cache per test: a test must not lean on what another one detected."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)


@pytest.fixture
def lab_hosts() -> Iterator[Callable[[], LabHost]]:
    """Factory: ``lab_hosts() -> LabHost`` started (namespace, veth, adb server); all torn down."""
    hosts: list[LabHost] = []

    def make() -> LabHost:
        host = LabHost(index=free_index(), adb=adb_host.adb_executable())
        hosts.append(host)
        host.start()
        return host

    try:
        yield make
    finally:
        for host in hosts:
            host.stop()
