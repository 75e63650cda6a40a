"""PDF rendering loads no external resource: exhibits and letters make no request for a URL they name.

A loopback HTTP listener counts every request it receives. Hostile text in an exhibit's fields (an
``<img src=...>``, a CSS ``url(...)``) and HTML that itself names URLs (an image, a stylesheet link, a
background) must render to a PDF with the listener never hit. A control render with WeasyPrint's default
fetcher hits the same listener, so the counter is known to see a fetch when one happens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swarmscope.cases import exhibits
from swarmscope.cases.exhibits import build_exhibits, render_pdf
from swarmscope.cases.letters import pdf_of
from swarmscope.store.legal.notices import CaseDocument

T0 = 1_796_000_000_000_000  # 2026-11-30T00:53:20Z, UTC µs
HOUR = 3_600_000_000


class Listener:
    """A loopback HTTP server that records the path of every request (answers 404)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_error(404)

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def listener() -> Iterator[Listener]:
    served = Listener()
    served.thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        served.thread.join(timeout=5)


def hostile_html(base: str) -> str:
    """HTML naming four URLs on the listener: an image, a stylesheet, a CSS background and an @import."""
    return (
        f'<html><head><link rel="stylesheet" href="{base}/link.css">'
        f"<style>@import url({base}/import.css); body {{ background: url({base}/background.png) }}</style>"
        f'</head><body><p>Text</p><img src="{base}/image.png"></body></html>'
    )


def hostile_exhibit(base: str) -> exhibits.Exhibit:
    doc = CaseDocument(
        1,
        "DOE-000001",
        "127.0.0.9",
        6881,
        "ab" * 20,
        T0,
        T0 + 2 * HOUR,
        3,
        f'<img src="{base}/region.png">',
        f"</td><style>td {{ background: url({base}/city.png) }}</style>",
        "candidate",
        1,
        f'ISP <img src="{base}/isp.png">',
        "abuse@loopback.test",
        f'<link rel="stylesheet" href="{base}/work.css">',
        "Client",
        None,
        f"name url({base}/torrent.png).iso",
        1,
    )
    (exhibit,) = build_exhibits([doc])
    return exhibit


def test_the_listener_sees_a_fetch(listener: Listener) -> None:
    """Control: WeasyPrint's own fetcher requests what the HTML names, so a miss below means no request."""
    import weasyprint

    weasyprint.HTML(string=hostile_html(listener.base)).write_pdf()
    assert "/image.png" in listener.paths


def test_exhibit_fields_naming_urls_fetch_nothing(listener: Listener) -> None:
    pdf = render_pdf(hostile_exhibit(listener.base), T0)
    assert pdf.startswith(b"%PDF-")
    assert listener.paths == []


def test_exhibit_pdf_fetches_nothing_its_html_names(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if the HTML handed to WeasyPrint named a URL (a template's, an escaping slip), none is fetched."""
    monkeypatch.setattr(exhibits, "render_html", lambda _exhibit, _us: hostile_html(listener.base))
    pdf = render_pdf(hostile_exhibit(listener.base), T0)
    assert pdf.startswith(b"%PDF-")
    assert listener.paths == []


def test_letter_pdf_fetches_nothing_and_still_renders(listener: Listener) -> None:
    pdf = pdf_of(hostile_html(listener.base))
    assert pdf.startswith(b"%PDF-")
    assert listener.paths == []
