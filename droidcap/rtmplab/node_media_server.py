"""node-media-server (npm) as a second, independent RTMP server.

It matters for a decoder because it chunks differently from nginx-rtmp: it announces an outgoing
chunk size of 60000 (so a whole video frame usually travels in one chunk), caches the last GOP and
bursts it to a new player.  The npm package lives outside the Python environment (``./dev setup``
installs it into ``.lab/npm``); ``DROIDCAP_NMS_DIR`` may point at another installation.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from droidcap.rtmplab.errors import LabTimeoutError, LabToolMissingError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.ports import free_port
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool
from droidcap.rtmplab.servers import rtmp_url, wait_listening

NMS_VERSION = "2.7.4"

# A launcher instead of the package's bin/app.js: that one also opens HTTP ports 8000/8443.
_LAUNCHER = """\
const NodeMediaServer = require(process.env.DROIDCAP_NMS_MODULE);
const cfg = JSON.parse(process.env.DROIDCAP_NMS_CONFIG);
const nms = new NodeMediaServer({
  logType: 2,
  rtmp: { port: { port: cfg.port, host: cfg.host }, chunk_size: cfg.chunk_size,
          gop_cache: cfg.gop_cache, ping: 30, ping_timeout: 60 },
});
nms.run();
process.on('SIGTERM', () => process.exit(0));
"""


def nms_module_dir() -> Path:
    """Where the node-media-server package is installed (see module docstring)."""
    env = os.environ.get("DROIDCAP_NMS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / ".lab" / "npm" / "node_modules" / "node-media-server"
        if cand.is_dir():
            return cand
    return Path.cwd() / ".lab" / "npm" / "node_modules" / "node-media-server"


class NodeMediaServer:
    """A running node-media-server on ``host:port``; its stdout log records connect/publish/play."""

    kind = "node-media-server"

    def __init__(self, *, process: LabProcess, host: str, port: int, chunk_size: int, version: str) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.chunk_size = chunk_size
        self.version = version

    @classmethod
    def start(
        cls,
        reg: ProcessRegistry,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        chunk_size: int = 60000,
        gop_cache: bool = True,
        netns: NetNamespace | None = None,
        timeout: float = 15.0,
    ) -> NodeMediaServer:
        """Start node-media-server with its own config (only RTMP, no HTTP ports)."""
        require_tool("node", "nodejs")
        module = nms_module_dir()
        if not (module / "package.json").exists():
            raise LabToolMissingError(
                f"node-media-server is not installed at {module}; run ./dev setup "
                f"(npm install --prefix .lab/npm node-media-server@{NMS_VERSION})"
            )
        version = json.loads((module / "package.json").read_text())["version"]
        workdir.mkdir(parents=True, exist_ok=True)
        launcher = workdir / "nms-launcher.js"
        launcher.write_text(_LAUNCHER)
        if port is None:
            port = free_port(host) if netns is None else 1935
        config = {"host": host, "port": port, "chunk_size": chunk_size, "gop_cache": gop_cache}
        (workdir / "nms-config.json").write_text(json.dumps(config, indent=2))
        argv = ["node", str(launcher)]
        proc = reg.start(
            "node-media-server",
            netns.wrap(argv) if netns else argv,
            env={"DROIDCAP_NMS_MODULE": str(module), "DROIDCAP_NMS_CONFIG": json.dumps(config)},
            cwd=workdir,
            stop_signal=signal.SIGTERM,
            stop_grace=5.0,
        )
        wait_listening(proc, port, timeout)
        return cls(process=proc, host=host, port=port, chunk_size=chunk_size,
                   version=f"node-media-server {version}")

    def url(self, app: str = "live", stream: str = "test", *, host: str | None = None) -> str:
        """The stream's URL; ``host``: the address a client uses to reach this server."""
        return rtmp_url(host or self.host, self.port, app, stream)

    def log_text(self) -> str:
        return self.process.log_text()

    def _wait(self, rx: re.Pattern[str], count: int, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while len(rx.findall(self.log_text())) < count:
            if time.monotonic() > deadline:
                raise LabTimeoutError(f"node-media-server: {what} not logged within {timeout:.1f} s; "
                                      f"log tail:\n{self.process.log_tail()}")
            time.sleep(0.05)

    def wait_publishing(self, stream: str, *, app: str = "live", timeout: float = 10.0) -> None:
        rx = re.compile(rf"\[rtmp publish\] New stream\. id=\S+ streamPath=/{re.escape(app)}/{re.escape(stream)} ")
        self._wait(rx, 1, timeout, f"publish of {app}/{stream}")

    def wait_playing(self, stream: str, *, count: int = 1, app: str = "live", timeout: float = 10.0) -> None:
        rx = re.compile(rf"\[rtmp play\] Join stream\. id=\S+ streamPath=/{re.escape(app)}/{re.escape(stream)} ")
        self._wait(rx, count, timeout, f"{count} play(s) of {app}/{stream}")

    def stop(self) -> None:
        self.process.stop()
