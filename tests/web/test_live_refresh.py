"""The live swarm pages' refresh and paging: they keep the reader's query (page size, filters, sort)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, MonitoringWorld, build

HTML = {"accept": "text/html"}


@pytest.fixture
def world(web: WebWorld) -> MonitoringWorld:
    return build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)


def _link(page: str, pattern: str) -> dict[str, list[str]]:
    found = re.search(pattern, page)
    assert found is not None, pattern
    return parse_qs(urlsplit(html.unescape(found.group(1))).query)


async def test_next_link_and_refresh_keep_limit_filters_and_sort(
    web: WebWorld, world: MonitoringWorld
) -> None:
    client = web.client("viewer")
    asked = {"sort": "bytes", "order": "asc", "limit": "1", "source": "tracker"}
    page = (await client.get(f"/swarms/{ACME_SWARM}", params=asked, headers=HTML)).text
    assert len(re.findall(r'<tr class="peer">', page)) == 1
    poll = _link(page, r'hx-get="(/swarms/[0-9a-f]+/peers\?[^"]*)"')
    following = _link(page, r'<a class="next" href="([^"]*)"')
    for kept in (poll, following):
        assert {k: kept[k] for k in asked} == {k: [v] for k, v in asked.items()}
    assert "cursor" in following and "cursor" not in poll
    polled = await client.get(f"/swarms/{ACME_SWARM}/peers", params={k: v[0] for k, v in poll.items()})
    assert len(re.findall(r'<tr class="peer">', polled.text)) == 1
    assert re.search(r'<input type="hidden" name="limit" value="1">', page)
