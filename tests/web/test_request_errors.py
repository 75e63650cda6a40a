"""A query parameter given twice is refused (422, one line naming it) instead of silently taking its last
value, on every list route, as JSON under /api/ and as an HTML page for a browser; and the routing's own
errors (a path no route serves, a method a route does not take) answer a browser with an HTML page too,
while /api/ keeps JSON."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebWorld
from tests.web.routes import route_table

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # chromium's
LISTS = {
    "/api/cases": "status", "/cases": "status", "/api/letters": "status", "/letters": "work",
    "/api/requests": "status", "/requests": "limit", "/api/swarms/" + "aa" * 20 + "/peers": "tier",
    "/swarms/" + "aa" * 20: "sort", "/api/works": "x",
}  # fmt: skip


@pytest.mark.parametrize(("path", "name"), sorted(LISTS.items()))
async def test_a_repeated_query_parameter_is_refused_naming_it(web: WebWorld, path: str, name: str) -> None:
    client = web.client("admin")
    query = [(name, "requested"), (name, "sent")]
    if path.startswith("/api/"):
        answer = await client.get(path, params=query)
        assert answer.status_code == 422 and answer.json() == {
            "detail": f"{name}: given 2 times; give it once"
        }
    else:
        answer = await client.get(path, params=query, headers=BROWSER)
        assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
        assert f"{name}: given 2 times; give it once" in answer.text


async def test_once_each_is_still_served(web: WebWorld) -> None:
    client = web.client("admin")
    one = await client.get("/api/cases", params=[("status", "requested"), ("limit", "5")])
    assert one.status_code == 200 and [c["column"] for c in one.json()] == ["requested"]


def test_every_get_route_is_covered_by_the_rule(web: WebWorld) -> None:
    """The rule is the app's own dependency, so a new route has it too."""
    table, _missing = route_table(web.app)
    assert any(method == "GET" for method, _path, _role in table)
    assert any(getattr(d.dependency, "__name__", "") == "single_values" for d in web.app.router.dependencies)


async def test_a_page_no_route_serves_answers_a_browser_with_an_html_page(web: WebWorld) -> None:
    for client in (web.client("viewer"), web.anonymous()):
        for method, path, status in [("GET", "/no-such-page", 404), ("GET", "/cases/DOE-000001/nope", 404),
                                     ("POST", "/cases", 405), ("GET", "/static/nope.js", 404)]:  # fmt: skip
            answer = await client.request(method, path, headers=BROWSER)
            assert answer.status_code == status, path
            assert answer.headers["content-type"].startswith("text/html"), path
            assert "<h1>" + str(status) + "</h1>" in answer.text and '"detail"' not in answer.text
            assert 'name="csrf-token"' not in answer.text  # no session's data on it
        api = await client.get("/api/no-such-thing", headers=BROWSER)
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    allowed = await web.client("viewer").request("POST", "/cases", headers=BROWSER)
    assert allowed.headers["allow"] == "GET"
