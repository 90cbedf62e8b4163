"""The ZenGRC API over real loopback HTTP: paging, auth, errors."""

from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from dataops.sandbox import HttpSandbox, records, serve, truth
from dataops.sandbox.zengrc import CREDENTIALS, clock


def authed_session() -> requests.Session:
    session = requests.Session()
    session.auth = (CREDENTIALS["username"], CREDENTIALS["password"])
    return session


def walk(sandbox: HttpSandbox, collection: str, **params: str) -> list[dict[str, Any]]:
    """Every page of a collection: follow host-relative hrefs joined to scheme+host."""
    session = authed_session()
    pages = []
    response = session.get(f"{sandbox.url}/{collection}", params=params, timeout=10)
    while True:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        page = response.json()
        assert set(page) == {"data", "links"}
        pages.append(page)
        link = page["links"]["next"]
        if link is None:
            return pages
        assert link["href"].startswith(f"/api/v2/{collection}?cursor=")
        response = session.get(sandbox.origin + link["href"], timeout=10)


def test_url_and_credentials(zengrc: HttpSandbox) -> None:
    assert zengrc.url == f"http://127.0.0.1:{zengrc.port}/api/v2"
    assert zengrc.credentials == {"username": "sandbox-key", "password": "sandbox-secret"}


def test_all_collections_paged_concurrently_equal_truth(zengrc: HttpSandbox) -> None:
    expected = records("zengrc")
    with ThreadPoolExecutor(len(expected)) as pool:
        walked = dict(
            zip(expected, pool.map(lambda name: walk(zengrc, name), expected), strict=True)
        )
    facts = truth("zengrc")
    for collection, pages in walked.items():
        served = [obj for page in pages for obj in page["data"]]
        assert [[obj["id"]] for obj in served] == facts[collection]["keys"]
        assert served == expected[collection]
        assert [len(page["data"]) for page in pages[:-1]] == [50] * (len(pages) - 1)
        assert 0 < len(pages[-1]["data"]) <= 50


def test_page_size_option_and_ignored_filters() -> None:
    with serve("zengrc", page_size=7) as sandbox:
        pages = walk(sandbox, "audits", limit="1000", updated_at="2030-01-01T00:00:00Z")
    assert len(pages) == -(-80 // 7)
    assert {len(page["data"]) for page in pages[:-1]} == {7}


def test_bad_cursor_is_400(zengrc: HttpSandbox) -> None:
    session = authed_session()
    next_href = session.get(f"{zengrc.url}/audits", timeout=10).json()["links"]["next"]["href"]
    other_collection = next_href.replace("/audits?", "/controls?")
    for url in (f"{zengrc.url}/audits?cursor=%%%", zengrc.origin + other_collection):
        response = session.get(url, timeout=10)
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "invalid cursor"


def test_one_object(zengrc: HttpSandbox) -> None:
    session = authed_session()
    expected = records("zengrc")["risks"][5]
    response = session.get(zengrc.origin + expected["links"]["self"]["href"], timeout=10)
    assert response.json() == {"data": expected}
    assert session.get(f"{zengrc.url}/risks/99999999", timeout=10).status_code == 404


def test_auth_required(zengrc: HttpSandbox) -> None:
    for auth in (None, ("sandbox-key", "wrong"), ("someone", "sandbox-secret")):
        response = requests.get(f"{zengrc.url}/audits", auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_paths_and_methods(zengrc: HttpSandbox) -> None:
    session = authed_session()
    for path in ("/api/v2/nope", "/api/v2/audits/12/extra", "/api/v1/audits", "/"):
        response = session.get(zengrc.origin + path, timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == 404
    assert session.post(f"{zengrc.url}/audits", json={}, timeout=10).status_code == 405


def test_health_is_open_and_not_counted() -> None:
    with serve("zengrc") as sandbox:
        response = requests.get(sandbox.health_url, timeout=10)
        assert response.json() == {"status": "ok", "vendor": "zengrc"}
        assert sandbox.stats.snapshot() == {"requests": 0, "faults": {}, "statuses": {}}


def test_every_answer_carries_the_sandbox_clock_as_an_rfc_9110_date() -> None:
    """One `Date`: the sandbox's clock replaces the machine's."""
    session = authed_session()
    with serve("zengrc", epoch=2) as sandbox:
        answers = [
            session.get(f"{sandbox.url}/audits", timeout=10),
            session.get(f"{sandbox.url}/audits/1", timeout=10),
            requests.get(f"{sandbox.url}/audits", timeout=10),
        ]
    assert [answer.status_code for answer in answers] == [200, 404, 401]
    for answer in answers:
        assert answer.raw.headers.getlist("Date") == ["Fri, 28 Feb 2025 18:00:00 GMT"]
        assert parsedate_to_datetime(answer.headers["Date"]) == clock(2)


def test_a_deleted_object_is_gone_from_the_list_and_answers_404() -> None:
    before = {obj["id"]: obj for obj in records("zengrc", seed=3, epoch=2)["controls"]}
    after = {obj["id"] for obj in records("zengrc", seed=3, epoch=3)["controls"]}
    deleted = sorted(before.keys() - after)
    assert deleted
    session = authed_session()
    with serve("zengrc", seed=3, epoch=3) as sandbox:
        listed = {obj["id"] for page in walk(sandbox, "controls") for obj in page["data"]}
        for object_id in deleted:
            href = before[object_id]["links"]["self"]["href"]
            assert session.get(sandbox.origin + href, timeout=10).status_code == 404
    assert listed == after


@pytest.mark.parametrize("move_after", [1, 4, 9])
def test_the_data_moves_on_under_a_scan_and_the_cursor_stays_valid(move_after: int) -> None:
    """After `move_after` answers the next epoch is served: pages already read stay as
    they were, the rest comes from the next epoch (deleted ids gone, new ids after)."""
    seed, epoch = 12, 2
    old, new = (
        records("zengrc", seed=seed, epoch=epoch),
        records("zengrc", seed=seed, epoch=epoch + 1),
    )
    with serve("zengrc", seed=seed, epoch=epoch, page_size=10, move_after=move_after) as sandbox:
        pages = walk(sandbox, "requests")
        moved = sandbox.moved
    assert moved
    served = [obj for page in pages for obj in page["data"]]
    last_before_move = pages[move_after - 1]["data"][-1]["id"]
    expected = [obj for obj in old["requests"] if obj["id"] <= last_before_move] + [
        obj for obj in new["requests"] if obj["id"] > last_before_move
    ]
    assert served == expected
    assert {obj["id"] for obj in old["requests"]} - {obj["id"] for obj in new["requests"]}


def test_without_move_after_the_data_stays_put() -> None:
    with serve("zengrc", page_size=5) as sandbox:
        walk(sandbox, "audits")
        assert not sandbox.moved
