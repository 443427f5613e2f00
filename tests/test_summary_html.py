"""`droidcap summary --html`: one self-contained page that Debian's headless Chromium opens with
the network off and draws the plots of."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import DATA, run_cli

PAUSE = DATA / "summary" / "nginx_publisher_pause3s.pcap"

def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    assert exe, "Debian package chromium is missing (./dev setup installs it)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000",
             # nothing may come from the network: the page must be self-contained
             "--host-resolver-rules=MAP * ~NOTFOUND", *args],
            check=False, capture_output=True, text=True, timeout=90)


@pytest.mark.slow
def test_html_page_draws_its_plots_offline(tmp_path):
    page = tmp_path / "summary.html"
    result = run_cli("summary", str(PAUSE), "--html", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=", text) and "cdn.plot.ly" not in text.split("</script>")[-1]
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    # plotly replaced each connection's empty div with its SVG plots: 4 subplots, lines and bars
    assert dom.stdout.count('class="main-svg"') >= 2 * 2
    assert dom.stdout.count('class="subplot xy"') + dom.stdout.count("class=\"subplot x") >= 4
    assert "scatterlayer" in dom.stdout and "barlayer" in dom.stdout
    assert re.search(r"no media for 3\.\d\d s", dom.stdout)
    shot = tmp_path / "summary.png"
    run = chromium("--window-size=1280,1000", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.stat().st_size > 30_000, run.stderr


def test_plotly_is_inlined_once_with_the_first_plot_even_after_a_connection_without_media():
    from droidcap.analysis.summary import CaptureSummary
    from droidcap.render.summary_html import render_html
    from droidcap.summarise import summarise

    missing = summarise(DATA / "summary" / "nginx_play_not_found.pcap")  # no media: no plot
    players = summarise(DATA / "captures" / "nginx_ffmpeg_players.pcap")
    both = CaptureSummary(connections=missing.connections + players.connections, notes=(),
                          thresholds=missing.thresholds)
    page = render_html(both, title="two captures")
    assert page.count("Plotly.newPlot") == 3
    library = page.index("plotly.js v")
    assert library < page.index("Plotly.newPlot") and page.count("plotly.js v") == 1
