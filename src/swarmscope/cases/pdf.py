"""HTML → PDF with WeasyPrint, loading no external resource: the one place the workflow renders a PDF.

Exhibits and letters carry hostile text (torrent names, regions, ISP names, addressees). Jinja2 autoescape
keeps it from becoming markup, and this renderer is the second wall: every URL the HTML names (an
``<img src>``, a ``<link>`` stylesheet, a CSS ``url()`` or ``@import``, a ``file:`` path) is refused by the
URL fetcher before any request is made. WeasyPrint logs the refused resource and renders without it.
Fonts come from the system (fontconfig), never from a URL.

Source: WeasyPrint "URL Fetchers" (API reference; a ``URLFetcher`` subclass whose ``fetch`` raises is
how a resource is refused since WeasyPrint 68, CVE-2025-68616).
"""

from __future__ import annotations

from functools import cache
from typing import Any


def html_to_pdf(html: str) -> bytes:
    """The PDF bytes of ``html`` (a whole document, UTF-8 text); no URL it names is fetched.

    Raises:
        nothing of its own: a refused resource is left out (WeasyPrint logs it), the PDF is still made.
    """
    import weasyprint  # heavy import: only when a PDF is made

    pdf = weasyprint.HTML(string=html, url_fetcher=_refusing_fetcher()).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


@cache
def _refusing_fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class RefusingFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
        """Refuses every URL (http, https, ftp, file, data) before opening anything."""

        def fetch(self, url: str, headers: object = None) -> Any:
            raise ValueError(f"documents load no external resources (asked for {url[:80]!r})")

    return RefusingFetcher()
