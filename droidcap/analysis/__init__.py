"""Stream health and export, from decoded RTMP sessions (standard library only, sans-IO).

- :mod:`droidcap.analysis.summary`: :class:`SummaryBuilder` → :class:`CaptureSummary` (per
  connection :class:`ConnectionHealth` with flat :class:`Figures`); schema in docs/summary.md.
- :mod:`droidcap.analysis.health`: media figures per stream; :mod:`~droidcap.analysis.findings`:
  thresholds and findings; :mod:`~droidcap.analysis.meanings`: what status codes mean;
  :mod:`~droidcap.analysis.transport`: TCP header health; :mod:`~droidcap.analysis.flv`: FLV writer.
"""

from droidcap.analysis.findings import Finding, Thresholds
from droidcap.analysis.health import StreamHealth, Where
from droidcap.analysis.summary import (
           SCHEMA,
           CaptureSummary,
           ConnectionHealth,
           Figures,
           SummaryBuilder,
)

__all__ = ["SCHEMA", "CaptureSummary", "ConnectionHealth", "Figures", "Finding", "StreamHealth",
           "SummaryBuilder", "Thresholds", "Where"]
