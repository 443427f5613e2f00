"""The lab's reports, each a pure function of a :class:`~droidcap.labrun.results.LabResult`:
JSON (``lab.json``), Markdown (``lab.md``), JUnit XML (``junit.xml``) and one self-contained
HTML page (``lab.html``).  :class:`ReportWriter` rewrites all four as each result arrives."""

from droidcap.labrun.reports.writer import REPORT_FILES, ReportWriter

__all__ = ["REPORT_FILES", "ReportWriter"]
