"""Written incident reports (事故報告書): the city's report and the reviewer's, from stored incidents.

- :mod:`kinkyu.reports.model`: :func:`~kinkyu.reports.model.build_report`, the pure report model;
- :mod:`kinkyu.reports.svg`: the timeline picture (phases against deadlines), pure;
- :mod:`kinkyu.reports.render`: Markdown and HTML from the Jinja2 templates in ``templates/report``;
- :mod:`kinkyu.reports.pdf`: HTML to PDF with WeasyPrint and Debian's Noto CJK fonts;
- :mod:`kinkyu.reports.store`: the incident store (incidents, runs, contracts, evidence, renders);
- :mod:`kinkyu.reports.archive`: :func:`~kinkyu.reports.archive.render_and_store`, a report kept in the store;
- :mod:`kinkyu.reports.cli`: ``kinkyu report``.

This ``__init__`` imports the exceptions only, so importing the package stays cheap.
"""

from __future__ import annotations

from kinkyu.reports.exceptions import IncidentNotFoundError, RendererMissingError, ReportError, ReportStoreError

__all__ = ["IncidentNotFoundError", "RendererMissingError", "ReportError", "ReportStoreError"]
