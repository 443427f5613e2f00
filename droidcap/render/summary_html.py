"""The summary as one self-contained HTML page: per connection, timelines of bitrate, frame rate,
audio/video drift and stalls, drawn by plotly with its JavaScript inlined (the page needs no
network), above the findings and figures."""

from __future__ import annotations

import html
import json

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.io import to_html  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from droidcap.analysis.summary import CaptureSummary, ConnectionHealth

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 2px 10px; text-align: left; }
.error { color: #b00020; } .warning { color: #a15c00; } .info { color: #555; }
"""


def render_html(summary: CaptureSummary, *, title: str) -> str:
    head = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    parts = [head]
    js_needed = True  # plotly's JavaScript goes into the page once, with the first plot
    for c in summary.connections:
        plotted = any(st.windows for st in c.streams)
        parts.append(_connection(c, plot=plotted, include_js=plotted and js_needed))
        js_needed = js_needed and not plotted
    parts.extend(f"<p class='info'>note: {html.escape(note)}</p>" for note in summary.notes)
    parts.append("</body></html>")
    return "".join(parts)


def _figure(c: ConnectionHealth) -> go.Figure:
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("bitrate (kbit/s, 1 s windows)", "video frames per second",
                                        "audio/video drift (ms, video minus audio)", "stalls (no media)"))
    for st in c.streams:
        label = f"stream {st.stream_id} {st.dir}"
        secs = [w.second + 0.5 for w in st.windows]  # the middle of each 1 s window
        if st.video is not None:
            fig.add_trace(go.Scatter(x=secs, y=[w.video_kbps for w in st.windows], name=f"video {label}",
                                     mode="lines+markers"), row=1, col=1)
            fig.add_trace(go.Bar(x=secs, y=[w.video_frames for w in st.windows], name=f"fps {label}"),
                          row=2, col=1)
        if st.audio is not None:
            fig.add_trace(go.Scatter(x=secs, y=[w.audio_kbps for w in st.windows], name=f"audio {label}",
                                     mode="lines+markers"), row=1, col=1)
        fig.add_trace(go.Scatter(x=secs, y=[w.drift_ms for w in st.windows], name=f"drift {label}",
                                 mode="lines+markers"), row=3, col=1)
        fig.add_trace(go.Bar(x=[s.start.after_ms / 1000 for s in st.stalls],
                             y=[s.duration_ms for s in st.stalls],
                             width=[s.duration_ms / 1000 for s in st.stalls], offset=0,
                             name=f"stalls {label} (ms)"), row=4, col=1)
    for gap in c.transport.gaps:  # where the capture lost bytes, on every timeline
        fig.add_vline(x=gap.where.after_ms / 1000, line_dash="dot", line_color="#b00020")
    if c.transport.gaps:
        fig.add_annotation(x=c.transport.gaps[0].where.after_ms / 1000, y=1.0, yref="paper",
                           text="TCP gap", showarrow=False, font={"color": "#b00020"}, yanchor="bottom")
    fig.update_xaxes(title_text="seconds after the connection's start", row=4, col=1)
    fig.update_layout(height=820, margin={"l": 60, "r": 20, "t": 40, "b": 40}, legend={"orientation": "h"})
    return fig


def _connection(c: ConnectionHealth, *, plot: bool, include_js: bool) -> str:
    names = ", ".join(c.stream_names) or "-"
    heading = (f"<h2>conn {c.conn}: {html.escape(c.role)} {html.escape(c.client)} → {html.escape(c.server)}"
               f" ({html.escape(c.app or '-')}/{html.escape(names)})</h2>")
    out = [heading]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                   for k, v in c.figures.to_json().items())
    findings = "".join(
        f"<li class='{f.severity}'>{f.severity}: {html.escape(f.message)}"
        f"{'' if f.where is None else f' (frame {f.where.frame}, {f.where.after_ms / 1000:.3f} s)'}</li>"
        for f in c.findings) or "<li class='info'>no findings</li>"
    out.append(f"<ul>{findings}</ul>")
    if plot:
        out.append(to_html(_figure(c), full_html=False, include_plotlyjs=include_js,
                           div_id=f"conn-{c.conn}"))
    out.append(f"<table>{rows}</table>")
    return "".join(out)
