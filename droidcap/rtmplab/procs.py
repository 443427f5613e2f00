"""Start lab peers by PID, bound every wait, and always clean up.

Every peer runs in its own process group (``start_new_session``) so that stopping it also stops
anything it forked, and nothing is ever found "by name".  Stopping escalates: a polite signal
(SIGTERM, SIGINT or SIGQUIT — whatever the tool flushes on), a grace period, then SIGKILL to the
whole group.  The escalation matters: ffmpeg 5.1 playing RTMP ignores SIGTERM once the server
has sent "Stream EOF", and would otherwise hang a test run forever.

A :class:`ProcessRegistry` owns the peers of one test or one recording; closing it (its context
manager exit, a fixture teardown, or interpreter exit as a last resort) stops whatever is still
running, so a failing test body never leaves a server behind.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from droidcap.rtmplab.errors import LabProcessError, LabTimeoutError, LabToolMissingError

_POLL = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessExit:
    """How a peer ended: ``how`` is ``"exited"`` (on its own), ``"signalled"`` (stopped politely
    and it obeyed) or ``"killed"`` (it ignored the polite signal and got SIGKILL)."""

    name: str
    pid: int
    argv: tuple[str, ...]
    returncode: int
    how: str
    log: Path


def require_tool(tool: str, package: str | None = None) -> str:
    """Absolute path of ``tool`` on PATH, or :class:`LabToolMissingError` naming the package."""
    found = shutil.which(tool)
    if found is None:
        raise LabToolMissingError(
            f"{tool!r} is not installed (Debian package {package or tool}); run ./dev setup"
        )
    return found


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie: how tests check that cleanup really happened."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class LabProcess:
    """One running peer: its PID, its argv and a log file holding its stdout and stderr."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_grace: float = 5.0,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.stop_grace = stop_grace
        self._exit: ProcessExit | None = None
        self._lock = threading.Lock()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "wb") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=full_env,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise LabToolMissingError(f"cannot start {name}: {exc}") from exc
        self.pid: int = self._popen.pid
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<LabProcess {self.name} pid={self.pid} running={self.running}>"

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def log_text(self) -> str:
        """The peer's output so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait(self, timeout: float) -> ProcessExit:
        """Wait at most ``timeout`` seconds for the peer to exit on its own."""
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LabTimeoutError(
                f"{self.name} (pid {self.pid}) still running after {timeout:.1f} s; log tail:\n"
                f"{self.log_tail()}"
            ) from None
        return self._finish("exited")

    def wait_for_log(
        self, pattern: str | re.Pattern[str], timeout: float, *, source: Callable[[], str] | None = None
    ) -> re.Match[str]:
        """Wait until ``pattern`` appears in the log (or in ``source()``); fail early if the peer dies."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        read = source or self.log_text
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(read())
            if m:
                return m
            if not self.running:
                m = rx.search(read())
                if m:
                    return m
                raise LabProcessError(
                    f"{self.name} (pid {self.pid}) exited with {self.returncode} before "
                    f"{rx.pattern!r} appeared; log tail:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise LabTimeoutError(
                    f"{self.name} (pid {self.pid}): {rx.pattern!r} not seen within {timeout:.1f} s; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(_POLL)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the peer's whole process group (no-op once it has exited)."""
        if self.running:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig: int | None = None, grace: float | None = None) -> ProcessExit:
        """Stop politely with ``sig`` (default: the tool's own stop signal), SIGKILL after ``grace``.

        Idempotent and safe to call from several threads: the first caller does the work."""
        with self._lock:
            if self._exit is not None:
                return self._exit
            if not self.running:
                return self._finish("exited")
            sig = self.stop_signal if sig is None else sig
            grace = self.stop_grace if grace is None else grace
            self.signal(sig)
            try:
                self._popen.wait(timeout=grace)
                how = "signalled"
            except subprocess.TimeoutExpired:
                how = "killed"
                self.signal(signal.SIGKILL)
                self._popen.wait(timeout=10)
            return self._finish(how)

    def _finish(self, how: str) -> ProcessExit:
        rc = self._popen.wait(timeout=10)
        # Anything the peer forked into its group goes with it.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._exit is None:
            self._exit = ProcessExit(
                name=self.name, pid=self.pid, argv=self.argv, returncode=rc, how=how, log=self.log_path
            )
            _LIVE.discard(self)
        return self._exit

    @property
    def exit(self) -> ProcessExit | None:
        """The :class:`ProcessExit`, once the peer has been waited for or stopped."""
        return self._exit


class ProcessRegistry:
    """The peers of one test or recording; :meth:`close` stops them all, newest first.

    Use it as a context manager: the exit path runs even when the body raises."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[LabProcess] = []
        self._names: dict[str, int] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_grace: float = 5.0,
    ) -> LabProcess:
        """Start ``argv`` as a peer called ``name``; its log goes to ``log_dir/name.log``
        (``name-1.log``, … for further peers of the same name)."""
        n = self._names.get(name, 0)
        self._names[name] = n + 1
        stem = name if n == 0 else f"{name}-{n}"
        proc = LabProcess(stem, argv, log_path=self.log_dir / f"{stem}.log", env=env, cwd=cwd,
                          stop_signal=stop_signal, stop_grace=stop_grace)
        self._procs.append(proc)
        return proc

    @property
    def processes(self) -> tuple[LabProcess, ...]:
        return tuple(self._procs)

    def close(self) -> list[ProcessExit]:
        """Stop every peer still running (reverse start order: players before servers)."""
        exits = []
        errors: list[BaseException] = []
        for proc in reversed(self._procs):
            try:
                exits.append(proc.stop())
            except BaseException as exc:  # noqa: BLE001  # keep stopping the others; the first is re-raised
                errors.append(exc)
        if errors:
            raise errors[0]
        return exits

    def __enter__(self) -> ProcessRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def registry(log_dir: Path) -> Iterator[ProcessRegistry]:
    """``with registry(dir) as reg:`` — a :class:`ProcessRegistry` closed on exit."""
    reg = ProcessRegistry(log_dir)
    try:
        yield reg
    finally:
        reg.close()


def run_bounded(
    argv: Sequence[str], *, timeout: float, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a short helper (tshark, ip, ethtool) to completion within ``timeout`` seconds.

    On timeout the whole process group is killed, not just the direct child."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise LabToolMissingError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise LabTimeoutError(f"{' '.join(argv)} did not finish within {timeout:.1f} s") from None
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise LabProcessError(
            f"{' '.join(argv)} failed with {proc.returncode}: {err.decode('utf-8', 'replace').strip()[-500:]}"
        )
    return result


# Strong references: a peer must not vanish from here just because its owner dropped it.
_LIVE: set[LabProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Last resort: peers nobody stopped (a crashed script) do not outlive the interpreter."""
    for proc in list(_LIVE):
        try:
            proc.stop(grace=2.0)
        except Exception:  # noqa: BLE001  # at interpreter exit: stop the rest whatever one did
            pass
