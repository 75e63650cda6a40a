"""A status filter outside its closed set is 400 naming the allowed values, never an empty 200.

``/api/cases?status=bogus`` has always said which columns exist; ``/api/letters?status=zz`` and
``/api/requests?status=x`` answered ``[]``, which reads as "no letter (request) in that state". The letter
list filters by case status (:class:`swarmscope.cases.workflow.CaseStatus`), the request list by request
status (:class:`swarmscope.cases.workflow.RequestStatus`).
"""

from __future__ import annotations

import pytest

from swarmscope.cases.workflow import CaseStatus, RequestStatus
from tests.web.conftest import WebWorld


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/api/letters?status=zz", CaseStatus), ("/api/requests?status=x", RequestStatus)],
)
async def test_an_unknown_status_names_the_allowed_values(web: WebWorld, path: str, allowed: type) -> None:
    answer = await web.client("viewer").get(path)
    value = path.rsplit("=", 1)[1]
    assert answer.status_code == 400
    assert answer.json()["detail"] == f"status {value!r}: not one of {', '.join(allowed)}"


@pytest.mark.parametrize(
    "path",
    ["/api/letters?status=sent", "/api/requests?status=served", "/api/letters?status=", "/api/requests"],
)
async def test_a_known_or_empty_status_is_a_list(web: WebWorld, path: str) -> None:
    answer = await web.client("viewer").get(path)
    assert answer.status_code == 200 and isinstance(answer.json(), list)
