"""The lab result as JUnit XML (junitparser), in the shape Jenkins and GitLab read.

One ``<testsuite>`` per run (device × scenario × repetition), its ``hostname`` the adb server,
its properties the summary's figures and the device, its ``system-out`` the artefact paths.
Inside, one ``<testcase>`` for the capture itself and one per expectation; every testcase's
``classname`` is ``LAB.HOST_PORT.SERIAL`` so CI tools never merge two devices.  Infrastructure
failures (adb, a vanished device, a timeout) are ``<error>``; an unmet expectation, or a device
that cannot capture, is ``<failure>``; expectations not evaluated because the capture did not
happen are ``<skipped>``.  The layout follows the Ant JUnit report format (stated in
tests/data/junit/junit-ci.xsd, which every test is checked against).
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from typing import Any, cast

from junitparser import (
    Attr,
    Error,
    Failure,
    IntAttr,
    JUnitXml,
    Skipped,
    SystemErr,
    SystemOut,
    TestCase,
    TestSuite,
)

from droidcap.labrun.results import LabResult, RunResult, Status


class _RunSuite(TestSuite):
    """The schema's aggregated testsuite: ``package`` and ``id`` are required there."""

    package = Attr()
    id = IntAttr()


def _classname(result: LabResult, run: RunResult) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_]+', '_', result.lab_name)}.{run.spec.target.token}"


def _timestamp(epoch: float | None) -> str:
    when = datetime.fromtimestamp(epoch, UTC) if epoch else datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S")  # the schema allows no zone: UTC, as written


def _capture_case(run: RunResult, classname: str) -> TestCase:
    case = TestCase(f"{run.spec.scenario.name}[{run.spec.repetition}] capture", classname, run.seconds)
    message = run.reason or ""
    if run.status is Status.ERROR:
        case.result = [Error(message, run.error_type or "DeviceError")]
    elif run.status is Status.FAILED and not run.verdicts:
        case.result = [Failure(message, run.error_type or "CaptureFailed")]
    elif run.status is Status.INTERRUPTED and not run.verdicts:
        case.result = [Skipped(message)]
    elif run.status is Status.PENDING:
        case.result = [Skipped("not run yet")]
    return case


def _expectation_cases(run: RunResult, classname: str) -> list[TestCase]:
    cases = []
    verdicts = {v.expectation.name: v for v in run.verdicts}
    for exp in run.spec.scenario.expect:
        case = TestCase(f"{run.spec.scenario.name}[{run.spec.repetition}] {exp.name}", classname, 0.0)
        verdict = verdicts.get(exp.name)
        if verdict is None:
            case.result = [Skipped(f"not evaluated: {run.reason or 'no capture'}")]
        elif not verdict.held:
            case.result = [Failure(verdict.message, "ExpectationFailed")]
        cases.append(case)
    return cases


def render_junit(result: LabResult) -> bytes:
    xml = JUnitXml()
    for index, run in enumerate(result.results):
        classname = _classname(result, run)
        target = run.spec.target
        suite = _RunSuite(f"{run.spec.scenario.name} on {target.serial}")
        suite.package = classname
        suite.id = index
        suite.hostname = target.server.host if target.server.host not in ("127.0.0.1", "localhost") \
            else socket.gethostname() or "localhost"
        suite.timestamp = _timestamp(run.started or result.started)
        for name, value in (("adb", str(target.server)), ("serial", target.serial),
                            ("model", target.model), ("abis", ",".join(target.abis)),
                            ("release", target.release), ("status", run.status.value),
                            ("attempts", str(run.attempts))):
            suite.add_property(name, value)
        for name, value in (run.figures or {}).items():
            suite.add_property(f"figure.{name}", "" if value is None else str(value))
        for m in run.milestones:
            suite.add_property(f"milestone.{m.name}_ms", f"{m.after_ms:.3f}")
        suite.add_testcase(_capture_case(run, classname))
        suite.add_testcases(_expectation_cases(run, classname))
        out = [f"{k}: {p}" for k, p in run.artefacts.items()]
        out += [f"expectation {v.message}" for v in run.verdicts]  # the schema has no testcase output
        out += [f"note: {n}" for n in run.notes]
        untyped = cast(Any, suite)  # junitparser leaves these methods unannotated
        untyped.append(SystemOut("\n".join(out)))
        untyped.append(SystemErr(run.reason or ""))
        untyped.update_statistics()
        suite.time = round(run.seconds, 3)
        xml.add_testsuite(suite)
    text: bytes = cast(Any, xml).tostring()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text


__all__ = ["render_junit"]
