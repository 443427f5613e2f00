"""nginx with libnginx-mod-rtmp as a lab server: its own prefix, generated config, info log.

nginx runs in the foreground without a master process (``daemon off; master_process off``) so
the PID we start is the PID that serves, and SIGQUIT (graceful stop) reaches it directly.  The
``info`` error log records every connect/publish/play, which is how tests assert what the server
really saw instead of trusting the client's exit code.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from droidcap.rtmplab.errors import LabTimeoutError, LabToolMissingError
from droidcap.rtmplab.netns import NetNamespace
from droidcap.rtmplab.ports import free_port
from droidcap.rtmplab.procs import LabProcess, ProcessRegistry, require_tool
from droidcap.rtmplab.servers import rtmp_url, wait_listening

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

_CONF = """\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
# The http block only exists to keep nginx's temp paths inside our prefix.
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/client;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
}}
rtmp {{
    server {{
        listen {listen};
        chunk_size {chunk_size};
        ack_window {ack_window};
        application {app} {{
            live on;
            record off;
        }}
        # Video on demand from prefix/vod: a play of a missing file is answered with
        # NetStream.Play.StreamNotFound (a live application waits for a publisher instead).
        application vod {{
            play {prefix}/vod;
        }}
    }}
}}
"""

_CONN = re.compile(r"\*(\d+) (.*?)(?:, client: (\S+), server: \S+)?$")
_CMD = re.compile(r"^(connect|publish|play): (?:app|name)='([^']*)'")


@dataclass(frozen=True, slots=True, kw_only=True)
class NginxLogEvent:
    """One per-connection line of nginx-rtmp's info log.

    ``kind`` is ``client connected``, ``connect``, ``createStream``, ``publish``, ``play``,
    ``deleteStream``, ``disconnect`` (or the first word of other lines); ``app`` is the app the
    connection connected to, ``name`` the stream name of a publish/play."""

    conn: int
    kind: str
    app: str | None
    name: str | None
    client: str | None
    line: str


def nginx_version() -> str:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=10, check=False)
    m = re.search(r"nginx/(\S+)", out.stderr + out.stdout)
    return m.group(1) if m else "unknown"


class NginxRtmp:
    """A running nginx-rtmp with one ``live on`` application.  Start with :meth:`start`."""

    kind = "nginx-rtmp"

    def __init__(self, *, process: LabProcess, prefix: Path, host: str, port: int,
                 chunk_size: int, app: str, version: str) -> None:
        self.process = process
        self.prefix = prefix
        self.host = host
        self.port = port
        self.chunk_size = chunk_size
        self.app = app
        self.version = version

    @classmethod
    def start(
        cls,
        reg: ProcessRegistry,
        prefix: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        chunk_size: int = 4096,
        ack_window: int = 5_000_000,
        app: str = "live",
        netns: NetNamespace | None = None,
        timeout: float = 10.0,
    ) -> NginxRtmp:
        """Write ``prefix/nginx.conf`` and start nginx on ``host:port`` (a free port if None).

        ``chunk_size`` is the server's outgoing chunk size (nginx sends Set Chunk Size with it);
        ``ack_window`` the Window Acknowledgement Size it announces (nginx's default 5000000 means
        a short session never sees an Acknowledgement; a small one makes the players send some).
        With ``netns`` the server lives in that namespace (any port is free there)."""
        require_tool("nginx")
        if not RTMP_MODULE.exists():
            raise LabToolMissingError(
                f"{RTMP_MODULE} is missing (Debian package libnginx-mod-rtmp); run ./dev setup"
            )
        prefix = prefix.resolve()
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)  # nginx opens prefix/logs/error.log before reading the conf
        (prefix / "vod").mkdir(exist_ok=True)
        if port is None:
            port = free_port(host) if netns is None else 1935
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        conf = prefix / "nginx.conf"
        conf.write_text(_CONF.format(module=RTMP_MODULE, prefix=prefix, listen=listen,
                                     chunk_size=chunk_size, ack_window=ack_window, app=app))
        argv = ["nginx", "-p", str(prefix), "-c", str(conf)]
        proc = reg.start("nginx", netns.wrap(argv) if netns else argv,
                         stop_signal=signal.SIGQUIT, stop_grace=5.0)
        wait_listening(proc, port, timeout)
        return cls(process=proc, prefix=prefix, host=host, port=port, chunk_size=chunk_size,
                   app=app, version=f"nginx/{nginx_version()} + libnginx-mod-rtmp")

    def url(self, app: str | None = None, stream: str = "test", *, host: str | None = None) -> str:
        """The stream's URL; ``host``: the address a client uses to reach this server (e.g. a
        virtual device's ``host_address`` when the server listens on 0.0.0.0)."""
        return rtmp_url(host or self.host, self.port, app or self.app, stream)

    @property
    def log_path(self) -> Path:
        return self.prefix / "error.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def events(self) -> list[NginxLogEvent]:
        """The per-connection lines of the info log, each tagged with its connection's app."""
        apps: dict[int, str] = {}
        events: list[NginxLogEvent] = []
        for line in self.log_text().splitlines():
            body = line.split("] ", 1)[-1]
            star = body.find("*")
            if star < 0:
                continue
            m = _CONN.match(body[star:])
            if not m:
                continue
            conn, text, client = int(m.group(1)), m.group(2), m.group(3)
            name = None
            cm = _CMD.match(text)
            if text.startswith("client connected"):
                kind = "client connected"
                client = text.split("'")[1] if "'" in text else client
            elif cm:
                kind = cm.group(1)
                if kind == "connect":
                    apps[conn] = cm.group(2)
                else:
                    name = cm.group(2)
            else:
                kind = text.split(" ", 1)[0].rstrip(":,")
            events.append(NginxLogEvent(conn=conn, kind=kind, app=apps.get(conn), name=name,
                                        client=client, line=line))
        return events

    def wait_event(self, kind: str, *, name: str | None = None, app: str | None = None,
                   count: int = 1, timeout: float = 10.0) -> list[NginxLogEvent]:
        """Wait until the log holds ``count`` events of ``kind`` (for stream ``name`` in ``app``)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e.kind == kind
                     and (name is None or e.name == name) and (app is None or e.app == app)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise LabTimeoutError(
                    f"nginx-rtmp logged {len(found)} of {count} {kind!r} (name={name!r}, app={app!r}) "
                    f"within {timeout:.1f} s; log tail:\n" + "\n".join(self.log_text().splitlines()[-10:])
                )
            time.sleep(0.05)

    def wait_publishing(self, stream: str, *, app: str = "live", timeout: float = 10.0) -> None:
        self.wait_event("publish", name=stream, app=app, timeout=timeout)

    def wait_playing(self, stream: str, *, count: int = 1, app: str = "live", timeout: float = 10.0) -> None:
        self.wait_event("play", name=stream, app=app, count=count, timeout=timeout)

    def stop(self) -> None:
        self.process.stop()

