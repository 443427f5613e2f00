"""pytest fixtures for teams that write their device tests in pytest (entry point ``droidcap_labrun``).

- ``--lab-adb HOST:PORT`` (repeatable; default: the local adb server) says where the devices are.
- ``lab_device``: a test that takes it runs once per ready device of those servers (the id is the
  serial), and gets a connected :class:`droidcap.device.Device`.
- ``lab_run(lab, *, parallel=None)``: runs a lab — a :class:`~droidcap.labrun.Lab`, a lab file, or
  the TOML text itself — with its reports in the test's directory (``--lab-output DIR`` to keep
  them elsewhere); returns the :class:`~droidcap.labrun.LabResult`.  A lab without ``adb`` uses
  the ``--lab-adb`` servers.  The reports' paths go into the test's ``user_properties``, so
  pytest's own ``--junitxml`` points at them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from droidcap.device.adb import ServerAddress
from droidcap.device.device import Device
from droidcap.labrun import Lab, LabResult, load_lab, run_lab
from droidcap.labrun.selection import discover

LabRun = Callable[..., LabResult]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("droidcap-lab", "droidcap device labs")
    group.addoption("--lab-adb", action="append", default=[], metavar="HOST:PORT",
                    help="adb server with the lab's devices (repeatable; default: the local one)")
    group.addoption("--lab-output", default=None, metavar="DIR",
                    help="keep lab_run's artefacts and reports under DIR (default: the test's tmp_path)")


def _servers(config: pytest.Config) -> tuple[ServerAddress, ...]:
    specs: list[str] = config.getoption("--lab-adb")
    return tuple(ServerAddress.parse(s) for s in specs) or (ServerAddress.parse(None),)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lab_device" in metafunc.fixturenames:
        targets, problems = discover(_servers(metafunc.config))
        if not targets:
            raise pytest.UsageError("lab_device: no ready device on "
                                    f"{', '.join(str(s) for s in _servers(metafunc.config))}"
                                    + (f" ({'; '.join(problems)})" if problems else ""))
        metafunc.parametrize("lab_device", targets, ids=[t.serial for t in targets], indirect=True)


@pytest.fixture
def lab_device(request: pytest.FixtureRequest) -> Device:
    target = request.param
    return Device.connect(target.serial, adb=target.server)


@pytest.fixture
def lab_run(request: pytest.FixtureRequest, tmp_path: Path) -> LabRun:
    servers = _servers(request.config)
    keep = request.config.getoption("--lab-output")
    count = 0

    def run(lab: Lab | Path | str, *, parallel: int | None = None) -> LabResult:
        nonlocal count
        count += 1
        if isinstance(lab, str) and "\n" in lab:  # the lab file's text
            path = tmp_path / f"lab-{count}.toml"
            path.write_text(lab, encoding="utf-8")
            lab = path
        lab = lab if isinstance(lab, Lab) else load_lab(lab)
        if lab.adb_default and request.config.getoption("--lab-adb"):
            lab = replace(lab, adb=servers)
        base = Path(keep) / request.node.name if keep else tmp_path
        output = base / f"lab-{count}"
        result = run_lab(lab, output, parallel=parallel)
        request.node.user_properties.append((f"droidcap_lab_{count}", str(output / "junit.xml")))
        return result

    return run
