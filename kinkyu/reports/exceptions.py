"""Errors of the written incident reports (事故報告書).

Messages name incidents, files, keys and formats; never personal information.
"""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class ReportError(KinkyuError):
    """A report cannot be built, rendered or stored as asked."""


class ReportStoreError(ReportError):
    """The incident store cannot be read or written (a file that does not parse, a folder not writable)."""


class IncidentNotFoundError(ReportStoreError):
    """The incident store holds no incident with this id."""


class RendererMissingError(ReportError):
    """PDF output needs WeasyPrint and Japanese fonts (Debian's ``fonts-noto-cjk``), and one is missing.

    The message says what is missing and to run ``make install``.
    """
