"""The shared server layer: each fault kind at the socket level, seeding, cap, latency."""

import base64
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dataops.sandbox import HttpSandbox, serve
from dataops.sandbox.zengrc import CREDENTIALS


def authed_session() -> requests.Session:
    session = requests.Session()
    session.auth = (CREDENTIALS["username"], CREDENTIALS["password"])
    return session


def get(sandbox: HttpSandbox, path: str = "/audits", timeout: float = 5) -> requests.Response:
    return authed_session().get(sandbox.url + path, timeout=timeout)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("reset", requests.ConnectionError),
        ("truncate", requests.exceptions.ChunkedEncodingError),
    ],
)
def test_connection_faults(kind: str, error: type[Exception]) -> None:
    with serve("zengrc", faults=f"{kind}:1") as sandbox:
        with pytest.raises(error):
            get(sandbox)
        assert sandbox.stats.faults == {kind: 1}


def raw_get(sandbox: HttpSandbox) -> bytes:
    """GET the first audits page over a bare socket; everything received until close."""
    token = base64.b64encode(f"{CREDENTIALS['username']}:{CREDENTIALS['password']}".encode())
    request = b"GET /api/v2/audits HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token
    received = b""
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw:
        raw.sendall(request + b"\r\nConnection: close\r\n\r\n")
        while chunk := raw.recv(65536):
            received += chunk
    return received


def test_reset_is_a_tcp_reset() -> None:
    with serve("zengrc", faults="reset:1") as sandbox, pytest.raises(ConnectionResetError):
        raw_get(sandbox)


def test_truncate_sends_a_json_prefix_shorter_than_its_length() -> None:
    with serve("zengrc", faults="truncate:1") as sandbox:
        head, _, body = raw_get(sandbox).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert 0 < len(body) < int(headers[b"content-length"])
    assert body.startswith(b'{"data":[{')


def test_stall_times_out_the_client_and_then_closes() -> None:
    with serve("zengrc", faults="stall:1", stall_seconds=0.5) as sandbox:
        with pytest.raises(requests.ReadTimeout):
            get(sandbox, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(requests.ConnectionError):
            get(sandbox, timeout=5)
        assert 0.4 < time.monotonic() - started < 2
        assert sandbox.stats.faults == {"stall": 2}


def test_close_does_not_wait_for_stalled_requests() -> None:
    sandbox = serve("zengrc", faults="stall:1", stall_seconds=30)
    errors: list[Exception] = []

    def stalled() -> None:
        try:
            get(sandbox, timeout=10)
        except requests.RequestException as error:
            errors.append(error)

    clients = [threading.Thread(target=stalled) for _ in range(3)]
    for client in clients:
        client.start()
    while sandbox.stats.requests < 3:
        time.sleep(0.01)
    started = time.monotonic()
    sandbox.close()
    assert time.monotonic() - started < 2
    for client in clients:
        client.join(5)
    assert len(errors) == 3


def test_html_gateway_page() -> None:
    with serve("zengrc", faults="html:1") as sandbox:
        response = get(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Bad Gateway" in response.text
    with pytest.raises(requests.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("kind", ["429", "429-bare", "500", "502", "503"])
def test_status_faults(kind: str) -> None:
    with serve("zengrc", faults=f"{kind}:1", retry_after=7) as sandbox:
        response = get(sandbox)
    assert response.status_code == int(kind[:3])
    assert response.headers.get("Retry-After") == ("7" if kind == "429" else None)


def statuses(seed: int, paths: list[str]) -> list[int]:
    with serve("zengrc", seed=seed, faults="500:0.3,503:0.2") as sandbox:
        session = authed_session()
        return [session.get(sandbox.url + path, timeout=5).status_code for path in paths]


def test_faults_are_reproducible_per_seed() -> None:
    paths = [f"/audits/{n}" for n in range(30)] * 2
    first = statuses(0, paths)
    assert first == statuses(0, paths)
    assert first != statuses(1, paths)
    assert {500, 503} <= set(first)


def test_bounded_retries_always_get_through() -> None:
    faults = "429:0.3,500:0.2,reset:0.2,truncate:0.1,html:0.2"
    with serve("zengrc", faults=faults, page_size=10) as sandbox:
        session = authed_session()
        url, pages = f"{sandbox.url}/controls", 0
        while url:
            for _ in range(4):
                try:
                    response = session.get(url, timeout=5)
                    if response.status_code == 200:
                        page = response.json()
                        break
                except (requests.RequestException, ValueError):
                    pass
            else:
                pytest.fail(f"{url} failed 4 times in a row")
            pages += 1
            link = page["links"]["next"]
            url = sandbox.origin + link["href"] if link else ""
        assert pages == 16
        assert sandbox.stats.faults_total >= 10


def test_latency_is_added_to_data_requests_only() -> None:
    with serve("zengrc", latency_ms=200) as sandbox:
        started = time.monotonic()
        requests.get(sandbox.health_url, timeout=5)
        assert time.monotonic() - started < 0.15
        started = time.monotonic()
        assert get(sandbox).status_code == 200
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        with ThreadPoolExecutor(11) as pool:
            assert set(pool.map(lambda _: get(sandbox).status_code, range(11))) == {200}
        assert time.monotonic() - started < 1.0
