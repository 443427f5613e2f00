"""The lab result as one self-contained HTML page: the per-device milestone timings side by side
(plotly, its JavaScript inlined so the page works offline), then a table of every run."""

from __future__ import annotations

import html

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.io import to_html  # type: ignore[import-untyped]

from droidcap.labrun.results import LabResult, RunResult, Status

#: The milestones plotted, in the order a player reaches them (docs/ndjson.md names).
PLOTTED = ("handshake_done", "connect_result", "create_stream_result", "play_start",
           "first_metadata", "first_audio", "first_video", "first_video_keyframe")
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } table { border-collapse: collapse; font-size: 0.9em; }
td, th { padding: 3px 10px; text-align: left; border-bottom: 1px solid #ddd; }
.passed { color: #1b7a1b; font-weight: bold; } .failed { color: #b00020; font-weight: bold; }
.error { color: #a15c00; font-weight: bold; } .interrupted, .pending { color: #555; }
"""


def _label(run: RunResult) -> str:
    t = run.spec.target
    return f"{t.model or t.serial} · {t.serial} · {run.spec.scenario.name}#{run.spec.repetition}"


def _figure(result: LabResult) -> go.Figure | None:
    runs = [r for r in result.results if r.milestones]
    if not runs:
        return None
    fig = go.Figure()
    for run in runs:
        at = {m.name: m.after_ms for m in run.milestones}
        names = [n for n in PLOTTED if n in at]
        fig.add_trace(go.Bar(name=_label(run), x=names, y=[at[n] for n in names],
                             hovertemplate="%{x}: %{y:.0f} ms<extra>" + html.escape(_label(run)) + "</extra>"))
    fig.update_layout(barmode="group", title="Milestones per device (ms after the connection's start)",
                      yaxis_title="ms", height=480, legend={"orientation": "h", "y": -0.25},
                      margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


def render_html(result: LabResult) -> str:
    title = f"Lab {result.lab_name}"
    wall = (result.ended or result.started) - result.started
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
              f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"),
             (f"<p>{result.count(Status.PASSED)} passed, {result.count(Status.FAILED)} failed, "
             f"{result.count(Status.ERROR)} errors; wall time {wall:.1f} s"
             + (" — <b>interrupted</b>" if result.interrupted else "") + "</p>")]
    fig = _figure(result)
    if fig is not None:
        parts.append(to_html(fig, full_html=False, include_plotlyjs=True,
                             config={"displaylogo": False}))
    parts.append("<table><tr><th>result</th><th>scenario</th><th>adb server</th><th>serial</th>"
                 "<th>model</th><th>ABI</th><th>run (s)</th><th>why</th></tr>")
    for r in result.results:
        t = r.spec.target
        cells = [f"<td class='{r.status.value}'>{r.status.value}</td>"] + [
            f"<td>{html.escape(str(x))}</td>" for x in (
                f"{r.spec.scenario.name} #{r.spec.repetition}", t.server, t.serial, t.model,
                ",".join(t.abis[:1]), f"{r.seconds:.1f}", r.reason or "")]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></body></html>")
    return "".join(parts)


__all__ = ["render_html"]
