"""HTML to PDF: WeasyPrint (a maintained HTML/CSS-to-PDF renderer), Japanese fonts from Debian's ``fonts-noto-cjk``.

WeasyPrint lays the page out with Pango, which finds fonts through
fontconfig; the report's CSS asks for "Noto Sans CJK JP", which
``fonts-noto-cjk`` provides, and WeasyPrint embeds the glyphs it uses (a
subset) in the PDF, so it prints the same anywhere. ``scripts/system-deps.sh``
(run by ``make install``) installs the fonts, ``poppler-utils`` (the tests read
the PDF back with ``pdftotext`` and ``pdffonts``) and ``libharfbuzz-subset0``
(WeasyPrint's font subsetter).

Missing WeasyPrint, its system libraries or the fonts raise
:class:`~kinkyu.reports.exceptions.RendererMissingError` with what to do
(``make install``); ``kinkyu report --format pdf`` turns that into exit code 3.

Warnings: WeasyPrint warns (``DeprecationWarning``) when libharfbuzz-subset is
absent and fontTools (``UserWarning``) about font tables it drops while
subsetting. Neither affects the PDF, and the test suite turns warnings into
errors, so they are silenced here, for those two modules and categories only,
around the import and the rendering (``warnings.catch_warnings`` is
process-wide state: render PDFs from one thread at a time).
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from kinkyu.reports.exceptions import RendererMissingError, ReportError

CJK_FAMILY = "Noto Sans CJK JP"
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".local/share/fonts")
_HOW = "run `make install` (it installs WeasyPrint into .venv and, via scripts/system-deps.sh, fonts-noto-cjk)"

_ready = False


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"weasyprint(\.|$)")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"fontTools(\.|$)")
        yield


def _weasyprint() -> ModuleType:
    try:
        with _quiet():
            import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415  # ships no type information
    except ImportError as exc:
        raise RendererMissingError(f"PDF output needs WeasyPrint, which is not installed: {_HOW}") from exc
    except OSError as exc:
        # WeasyPrint loads Pango with ctypes/cffi at import: a missing system library is an OSError.
        raise RendererMissingError(
            f"PDF output needs WeasyPrint's system libraries (Pango), which did not load: {_HOW}"
        ) from exc
    module: ModuleType = weasyprint
    return module


def cjk_fonts_present() -> bool:
    """Whether fontconfig knows the Noto CJK Japanese font (``fonts-noto-cjk``); the font files, without fc-list."""
    fc_list = shutil.which("fc-list")
    if fc_list is not None:
        try:
            found = subprocess.run(  # noqa: S603  # a fixed argument list, no shell
                [fc_list, CJK_FAMILY, "family"], capture_output=True, check=False, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            found = None
        if found is not None and found.returncode == 0:
            return bool(found.stdout.strip())
    return any(next(d.rglob("NotoSansCJK*"), None) is not None for d in _FONT_DIRS if d.is_dir())


def check_renderer() -> ModuleType:
    """The WeasyPrint module, once it and the CJK fonts are known to be present; else RendererMissingError."""
    global _ready  # noqa: PLW0603  # a success is remembered; a failure is checked again next time
    module = _weasyprint()
    if not _ready:
        if not cjk_fonts_present():
            raise RendererMissingError(
                f"PDF output needs the Japanese font {CJK_FAMILY} (Debian package fonts-noto-cjk): {_HOW}"
            )
        _ready = True
    return module


def html_to_pdf(html: str) -> bytes:
    """Render a report's HTML to PDF bytes (A4 per its CSS, fonts embedded)."""
    weasyprint = check_renderer()
    try:
        with _quiet():
            pdf = weasyprint.HTML(string=html).write_pdf()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ReportError(f"PDF rendering failed: {type(exc).__name__}") from exc
    if not isinstance(pdf, bytes):
        raise ReportError("PDF rendering returned no bytes")
    return pdf
