"""The EdCast (Domo Platform API) sandbox over real loopback HTTP, and its ground truth."""
# ruff: noqa: S608 - the tests send SQL to the simulator

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pytest
import requests

from dataops.sandbox import VENDORS, HttpSandbox, records, serve, truth
from dataops.sandbox.edcast import CREDENTIALS, truth_table, wire_table
from dataops.sandbox.edcast.data import Engine, engine
from dataops.sandbox.edcast.spec import BOOLEAN_COLUMNS, EVENTS, ID_COLUMN, USERS
from dataops.sandbox.serving import accepted_options
from dataops.sandbox.vendor import DataParams

EVENTS_STREAM = "glue_groups_g3_group_performance_data_explorer"
SPEC_COLUMNS = [
    "Group ID",
    "Group Name",
    "User ID",
    "Card ID",
    "ECL ID",
    "Time",
    "Card Title",
    "Card Type",
    "Card State",
    "Card Subtype",
    "Event",
    "Platform",
    "Performance Metric",
    "Comment Id",
    "Comment Message",
    "Comment Status",
    "Shared To User",
    "Shared To Group",
    "Follower User Full Name",
    "Following User Full Name",
    "Sign-in Count",
    "Supervisor",
    "Department",
    "Division",
    "Region",
    "Country",
    "Job Groups",
    "Role",
    "ECL Source Name",
    "Standard Card Type",
    "Impartner Account",
    "Duration (HH:MM)",
    "hire_date",
    "is_user_generated",
    "is_manager",
    "gitlab_internal",
    "is_public",
    "assigned_content",
    "Card Resource URL",
]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SPELLINGS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


@pytest.fixture(scope="module")
def edcast() -> Iterator[HttpSandbox]:
    """A fault-free EdCast sandbox at seed 0, scale 1, epoch 0, shared by a module."""
    with serve("edcast") as sandbox:
        yield sandbox


def session_for(sandbox: HttpSandbox) -> requests.Session:
    session = requests.Session()
    response = session.get(
        f"{sandbox.url}/oauth/token",
        params={"grant_type": "client_credentials", "scope": "data"},
        auth=(sandbox.credentials["username"], sandbox.credentials["password"]),
        timeout=10,
    )
    assert response.status_code == 200
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return session


def dataset_id(session: requests.Session, sandbox: HttpSandbox, name: str) -> str:
    found = session.get(f"{sandbox.url}/v1/datasets", params={"nameLike": name}, timeout=10)
    [dataset] = [d for d in found.json() if d["name"] == name]
    return str(dataset["id"])


def query(sandbox: HttpSandbox, sql: str, name: str = EVENTS) -> requests.Response:
    session = session_for(sandbox)
    url = f"{sandbox.url}/v1/datasets/query/execute/{dataset_id(session, sandbox, name)}"
    return session.post(url, json={"sql": sql}, timeout=30)


def rows_of(sandbox: HttpSandbox, sql: str, name: str = EVENTS) -> dict[str, Any]:
    response = query(sandbox, sql, name)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def tap_order(name: str) -> str:
    first = "Time" if name == EVENTS else "Updated At"
    columns = SPEC_COLUMNS if name == EVENTS else wire_table(DataParams(), USERS).column_names
    return ", ".join(f"`{column}`" for column in [first, *columns])


def clean(column: str, domo_type: str, value: Any) -> Any:
    """What the tap makes of one wire value."""
    if value is None or (value == "" and domo_type != "STRING"):
        return None
    if column in BOOLEAN_COLUMNS or (column == "is_manager"):
        return SPELLINGS[value]
    if ID_COLUMN.search(column) and domo_type in {"LONG", "DOUBLE"}:
        assert float(value).is_integer()
        return int(value)
    if domo_type == "DATETIME":
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if domo_type == "DATE":
        return date.fromisoformat(value)
    return value


def test_url_and_credentials(edcast: HttpSandbox) -> None:
    assert edcast.url == f"http://127.0.0.1:{edcast.port}"
    assert edcast.credentials == {"username": "sandbox-client", "password": "sandbox-client-secret"}
    assert edcast.credentials == CREDENTIALS


def test_token_flow_and_401s(edcast: HttpSandbox) -> None:
    token_url = f"{edcast.url}/oauth/token?grant_type=client_credentials&scope=data"
    token = requests.get(token_url, auth=tuple(CREDENTIALS.values()), timeout=5).json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 3599
    assert {"scope", "customer", "role", "userId", "jti"} <= set(token)
    wrong = requests.get(token_url, auth=("sandbox-client", "nope"), timeout=5)
    assert wrong.status_code == 401
    assert wrong.json()["statusReason"] == "Unauthorized"
    bad_grant = requests.get(f"{edcast.url}/oauth/token", auth=(*CREDENTIALS.values(),), timeout=5)
    assert bad_grant.status_code == 400
    for headers in ({}, {"Authorization": "Bearer unknown"}, {"Authorization": "Basic x"}):
        response = requests.get(f"{edcast.url}/v1/datasets", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["status"] == 401
    good = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{edcast.url}/v1/datasets", headers=good, timeout=5).status_code == 200


def test_tokens_expire() -> None:
    with serve("edcast", token_ttl_seconds=1) as sandbox:
        session = session_for(sandbox)
        assert session.get(f"{sandbox.url}/v1/datasets", timeout=5).status_code == 200
        time.sleep(1.2)
        expired = session.get(f"{sandbox.url}/v1/datasets", timeout=5)
        assert expired.status_code == 401
        assert "authentication" in expired.json()["message"]
        assert session_for(sandbox).get(f"{sandbox.url}/v1/datasets").status_code == 200


def test_dataset_listing(edcast: HttpSandbox) -> None:
    session = session_for(edcast)
    pages, offset = [], 0
    while page := session.get(
        f"{edcast.url}/v1/datasets", params={"sort": "name", "limit": 50, "offset": offset}
    ).json():
        pages.append(page)
        offset += 50
    assert [len(page) for page in pages] == [50, 10]
    names = [d["name"] for page in pages for d in page]
    assert names == sorted(names)
    assert {EVENTS, USERS} <= set(names)
    events = next(d for page in pages for d in page if d["name"] == EVENTS)
    assert events["description"] == "300121_Glue_ Groups [G][3] Group Performance Data Explorer"
    assert events["rows"] == 2000
    assert events["columns"] == 39
    assert UUID.fullmatch(events["id"])
    assert set(events["owner"]) == {"id", "name"}
    assert {"createdAt", "updatedAt", "dataCurrentAt", "pdpEnabled"} <= set(events)
    glue = session.get(f"{edcast.url}/v1/datasets", params={"nameLike": "gluegroups"}).json()
    assert EVENTS in {d["name"] for d in glue}
    assert all("gluegroups" in d["name"].lower() for d in glue)
    assert 1 < len(glue) < 60
    too_big = session.get(f"{edcast.url}/v1/datasets", params={"limit": 51})
    assert too_big.status_code == 400
    assert session.get(f"{edcast.url}/v1/datasets", params={"offset": 60}).json() == []
    one = session.get(f"{edcast.url}/v1/datasets/{events['id']}").json()
    assert one == events


def test_query_columns_and_declared_types(edcast: HttpSandbox) -> None:
    result = rows_of(edcast, "SELECT * FROM table LIMIT 1")
    assert result["columns"] == SPEC_COLUMNS
    assert result["numRows"] == 1
    assert result["numColumns"] == 39
    types = dict(zip(result["columns"], [m["type"] for m in result["metadata"]], strict=True))
    assert types["Group ID"] == types["Sign-in Count"] == types["Comment Id"] == "LONG"
    assert types["User ID"] == types["Card ID"] == types["Performance Metric"] == "DOUBLE"
    assert types["Time"] == "DATETIME"
    assert types["hire_date"] == "DATE"
    assert types["ECL ID"] == types["is_manager"] == types["Duration (HH:MM)"] == "STRING"


def test_query_where_order_limit_offset_count(edcast: HttpSandbox) -> None:
    since = "2021-07-01T00:00:00"
    where = f"WHERE `Time` > '{since}'"
    count = rows_of(edcast, f"SELECT COUNT(*) FROM table {where}")
    assert count["metadata"] == [{"type": "LONG"}]
    [[total]] = count["rows"]
    assert 0 < total < 2000
    order = tap_order(EVENTS)
    full = rows_of(edcast, f"SELECT * FROM table {where} ORDER BY {order}")["rows"]
    assert len(full) == total
    times = [row[5] for row in full]
    assert times == sorted(times)
    assert min(times) > since
    pages = [
        rows_of(edcast, f"SELECT * FROM table {where} ORDER BY {order} LIMIT 300 OFFSET {k}")
        for k in range(0, total, 300)
    ]
    assert [row for page in pages for row in page["rows"]] == full
    two = rows_of(edcast, "SELECT `Event`, `Time` FROM table ORDER BY `Event` DESC, `Time` LIMIT 5")
    assert two["columns"] == ["Event", "Time"]
    assert [row[0] for row in two["rows"]] == ["user_followed"] * 5


def test_string_literals_are_not_translated(edcast: HttpSandbox) -> None:
    result = rows_of(edcast, "SELECT * FROM table WHERE `Card Title` = 'from table `x`'")
    assert result["numRows"] == 0
    assert result["rows"] == []
    assert len(result["columns"]) == len(result["metadata"]) == 39


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC * FROM table",
        "SELECT `No Such Column` FROM table",
        "DROP TABLE table",
        "SELECT 1; SELECT 2",
        "SELECT * FROM read_csv('/etc/passwd')",
    ],
)
def test_bad_sql_is_400(edcast: HttpSandbox, sql: str) -> None:
    response = query(edcast, sql)
    assert response.status_code == 400
    assert response.json()["message"]
    assert response.json()["message"] != "Error creating query"


def test_the_mess_is_on_the_wire(edcast: HttpSandbox) -> None:
    result = rows_of(edcast, "SELECT * FROM table")
    columns = {name: [row[i] for row in result["rows"]] for i, name in enumerate(SPEC_COLUMNS)}
    group_ids = columns["Group ID"]
    assert "" in group_ids
    assert {type(v) for v in group_ids} == {int, str}
    assert 0.02 < group_ids.count("") / len(group_ids) < 0.09
    for name in ("User ID", "Card ID"):
        assert all(isinstance(v, float) and v.is_integer() for v in columns[name])
    assert "" in columns["Sign-in Count"]
    assert int in {type(v) for v in columns["Sign-in Count"]}
    assert "" in columns["Performance Metric"]
    assert float in {type(v) for v in columns["Performance Metric"]}
    assert "" in columns["hire_date"]
    assert all(v == "" or date.fromisoformat(v) for v in columns["hire_date"] if v is not None)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", v) for v in columns["Time"])
    assert len(set(columns["Time"])) < 0.5 * len(columns["Time"])
    for name in BOOLEAN_COLUMNS:
        assert set(columns[name]) == {*SPELLINGS, None}, name
    assert all(re.fullmatch(r"\d\d:\d\d", v) for v in columns["Duration (HH:MM)"])
    assert all(UUID.fullmatch(v) for v in columns["ECL ID"])
    for name in ("Department", "Division", "Impartner Account"):
        assert "" in columns[name], name
        assert None in columns[name], name


def test_result_cap_truncates_silently() -> None:
    with serve("edcast", max_result_rows=100) as sandbox:
        result = rows_of(sandbox, "SELECT * FROM table")
        paged = rows_of(sandbox, f"SELECT * FROM table ORDER BY {tap_order(EVENTS)} LIMIT 500")
    assert result["numRows"] == len(result["rows"]) == 100
    assert paged["numRows"] == 100


def test_query_error_fault_hits_only_queries() -> None:
    with serve("edcast", faults="query-error:1") as sandbox:
        session = session_for(sandbox)
        assert session.get(f"{sandbox.url}/v1/datasets").status_code == 200
        response = query(sandbox, "SELECT COUNT(*) FROM table")
        assert sandbox.stats.faults == {"query-error": 1}
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "statusReason": "Bad Request",
        "message": "Error creating query",
    }


def test_vendor_options_are_scoped() -> None:
    with pytest.raises(ValueError, match="query-error"):
        serve("zengrc", faults="query-error:0.1")
    with pytest.raises(
        ValueError,
        match=r"vendor 'zengrc' has no option token_ttl_seconds; it accepts: .*move_after",
    ):
        serve("zengrc", token_ttl_seconds=5)
    with pytest.raises(ValueError, match="vendor 'adaptive' has no option move_after"):
        serve("adaptive", move_after=3)
    with pytest.raises(ValueError, match="rate limit"):
        serve("zengrc", throttle=True)


def test_an_option_left_none_takes_its_default() -> None:
    with serve("zengrc", move_after=None, faults=None, page_size=None) as sandbox:
        assert not sandbox.moved


def test_every_vendor_declares_what_it_accepts() -> None:
    common = {"seed", "scale", "epoch", "host", "port", "latency_ms"}
    http = {"faults", "page_size", "retry_after", "stall_seconds", "max_consecutive_faults"}
    http |= {"throttle"}
    edcast = {"token_ttl_seconds", "max_result_rows", "move_after", "drift_at"}
    edcast |= {"epoch_events_percent"}
    assert {name: set(accepted_options(VENDORS[name])) for name in VENDORS} == {
        "zengrc": common | http | {"move_after"},
        "edcast": common | http | edcast,
        "xactly": common,
        "adaptive": common | http,
    }


def test_throttle_429_with_retry_after() -> None:
    with serve("edcast", throttle=True) as sandbox:
        session = session_for(sandbox)
        statuses = [session.get(f"{sandbox.url}/v1/datasets").status_code for _ in range(10)]
        refused = session.get(f"{sandbox.url}/v1/datasets")
    assert statuses == [200] * 9 + [429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10


def test_csv_export(edcast: HttpSandbox) -> None:
    session = session_for(edcast)
    url = f"{edcast.url}/v1/datasets/{dataset_id(session, edcast, USERS)}/data"
    response = session.get(url, params={"includeHeader": "true"})
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == wire_table(DataParams(), USERS).column_names
    assert len(lines) == 201
    assert all(row[0].endswith(".0") for row in lines[1:])
    served = rows_of(edcast, f"SELECT * FROM table ORDER BY {tap_order(USERS)}", USERS)
    assert served["numRows"] == 200


def test_deterministic_and_epochs_append_later_events() -> None:
    zero, again = wire_table(DataParams(0, 1, 0)), wire_table(DataParams(0, 1, 0))
    assert zero.equals(again)
    assert not zero.equals(wire_table(DataParams(1, 1, 0)))
    one = wire_table(DataParams(0, 1, 1))
    assert one.num_rows == 2200
    assert one.slice(0, zero.num_rows).equals(zero)
    new_times = one.column("Time").to_pylist()[zero.num_rows :]
    assert min(new_times) > max(zero.column("Time").to_pylist())
    users0, users1 = wire_table(DataParams(0, 1, 0), USERS), wire_table(DataParams(0, 1, 1), USERS)
    before = {row["User ID"]: row for row in users0.to_pylist()}
    after = {row["User ID"]: row for row in users1.to_pylist()}
    assert set(before) < set(after)
    updated = [uid for uid in before if before[uid] != after[uid]]
    assert 5 <= len(updated) <= 40
    assert all(after[uid]["Updated At"] > before[uid]["Updated At"] for uid in updated)


@pytest.mark.parametrize("percent", [1, 25])
def test_epoch_events_percent_sets_each_epochs_append(percent: int) -> None:
    """The incremental benchmark's knob: an epoch appends that share of epoch 0's events
    (default 10 %), and the truth follows it."""
    with serve("edcast", scale=2, epoch=1, epoch_events_percent=percent) as sandbox:
        counted = rows_of(sandbox, "SELECT COUNT(*) FROM table")["rows"][0][0]
    assert counted == 4000 + 4000 * percent // 100
    truth = truth_table(DataParams(0, 2, 1), EVENTS_STREAM, epoch_events_percent=percent)
    default = truth_table(DataParams(0, 2, 1), EVENTS_STREAM)
    assert 0.98 * counted <= truth.num_rows < counted  # a hundredth repeat a key
    assert (truth.num_rows > default.num_rows) == (percent > 10)
    with pytest.raises(ValueError, match="epoch_events_percent must be >= 1"):
        serve("edcast", epoch_events_percent=0)


def test_truth_winner_is_the_last_row_in_tap_order(edcast: HttpSandbox) -> None:
    for name, stream in ((EVENTS, EVENTS_STREAM), (USERS, "edcast_users")):
        served = rows_of(edcast, f"SELECT * FROM table ORDER BY {tap_order(name)}", name)
        types = [m["type"] for m in served["metadata"]]
        facts = truth("edcast")[stream]
        last: dict[tuple[Any, ...], dict[str, Any]] = {}
        seen: defaultdict[tuple[Any, ...], int] = defaultdict(int)
        for row in served["rows"]:
            record = {
                c: clean(c, t, v) for c, t, v in zip(served["columns"], types, row, strict=True)
            }
            key = tuple(record[k] for k in facts["key"])
            last[key] = record
            seen[key] += 1
        expected = records("edcast")[stream]
        assert facts["rows"] == len(last) == len(expected)
        assert sorted(map(list, last)) == facts["keys"]
        by_key = {tuple(r[k] for k in facts["key"]): r for r in expected}
        assert by_key == last
        if name == EVENTS:
            repeated = [key for key, n in seen.items() if n > 1]
            assert 10 <= len(repeated) <= 30
            assert facts["rows"] == 2000 - len(repeated)


def test_truth_table_types_and_datasets_stream() -> None:
    table = truth_table(DataParams(), EVENTS_STREAM)
    types = {field.name: str(field.type) for field in table.schema}
    assert types["Group ID"] == types["User ID"] == types["Comment Id"] == "int64"
    assert types["Performance Metric"] == "double"
    assert types["is_public"] == "bool"
    assert types["hire_date"] == "date32[day]"
    assert types["Time"] == "timestamp[us, tz=UTC]"
    assert types["ECL ID"] == "string"
    facts = truth("edcast")
    assert facts["datasets"]["rows"] == 60
    assert facts["datasets"]["key"] == ["id"]
    assert records("edcast")["datasets"][0]["createdAt"].tzinfo is not None


def test_truth_cli_prints_json() -> None:
    dataops = str(Path(sys.executable).parent / "dataops")
    result = subprocess.run(
        [dataops, "sandbox", "truth", "edcast"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["edcast_users"]["rows"] == 200
    assert printed[EVENTS_STREAM]["keys"][0][1].startswith("2021-")


def fingerprint(params: DataParams) -> str:
    """A digest of both datasets as served and of the catalogue."""
    digest = hashlib.sha256()
    for name in (EVENTS, USERS):
        served = io.BytesIO()
        pa_csv.write_csv(wire_table(params, name), served)
        digest.update(served.getvalue())
    catalogue = [dataset.to_json() for dataset in engine(params).datasets]
    digest.update(json.dumps(catalogue, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize(
    ("params", "digest"),
    [
        (DataParams(0, 1, 0), "fa10f6dd4abdff27"),
        (DataParams(0, 1, 1), "1297099eda88096c"),
        (DataParams(7, 2, 1), "532415900bdebafa"),
    ],
)
def test_epochs_0_and_1_serve_what_they_always_served(params: DataParams, digest: str) -> None:
    """Pinned before deletions were added: tests and benchmarks rely on these data."""
    assert fingerprint(params) == digest


def served_rows(data: Engine, name: str) -> set[Any]:
    """Identities of the rows a dataset serves: whole events (they never change), user ids."""
    table = data.wire_table(name)
    if name == USERS:
        return set(table.column("User ID").to_pylist())
    return {tuple(row.values()) for row in table.to_pylist()}


@pytest.mark.parametrize(("seed", "scale"), [(0, 1), (9, 2)])
def test_replace_uploads_drop_rows_from_epoch_2_and_they_never_return(
    seed: int, scale: int
) -> None:
    """Each epoch from 2 on leaves out about 3% of the older rows of both datasets (and
    appends its own); the catalogue says so, and loses one or two other datasets."""
    previous = engine(DataParams(seed, scale, 1))
    dropped: dict[str, set[Any]] = {EVENTS: set(), USERS: set()}
    for epoch in (2, 3, 4):
        current = engine(DataParams(seed, scale, epoch))
        for name in (EVENTS, USERS):
            before, now = served_rows(previous, name), served_rows(current, name)
            gone = before - now
            assert 0.015 < len(gone) / len(before) < 0.05, (name, epoch, len(gone))
            assert now - before, "the epoch appended nothing"
            assert not now & dropped[name], "a dropped row came back"
            dropped[name] |= gone
            entry = current.by_name[name].to_json()
            assert entry["rows"] == current.wire_table(name).num_rows
            assert entry["updatedAt"] == entry["dataCurrentAt"]
            assert entry["updatedAt"] > previous.by_name[name].to_json()["updatedAt"]
        names_before = {d.name for d in previous.datasets}
        names_now = {d.name for d in current.datasets}
        assert names_now < names_before
        assert 1 <= len(names_before - names_now) <= 2
        assert {EVENTS, USERS} <= names_now
        previous = current
    facts = truth("edcast", seed=seed, scale=scale, epoch=4)
    events = previous.wire_table(EVENTS).to_pylist()
    assert facts[EVENTS_STREAM]["rows"] == len(
        {(r["ECL ID"], r["Time"], r["Group Name"]) for r in events}
    )
    assert facts["datasets"]["rows"] == len(previous.datasets)


def test_move_after_serves_the_next_epoch_after_n_data_requests() -> None:
    """Token requests are not counted; an OFFSET page served from a cached result of
    the old epoch must not hide the move."""
    order = tap_order(EVENTS)
    with serve("edcast", seed=2, epoch=1, move_after=3) as sandbox:
        session = session_for(sandbox)
        url = f"{sandbox.url}/v1/datasets/query/execute/{dataset_id(session, sandbox, EVENTS)}"

        def ask(sql: str) -> dict[str, Any]:
            session_for(sandbox)  # a token request: not a data request
            response = session.post(url, json={"sql": sql}, timeout=30)
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        last_page = f"SELECT `Time` FROM table ORDER BY {order} LIMIT 5 OFFSET 2190"
        counted = "SELECT COUNT(*) FROM table"
        assert ask(counted)["rows"] == [[2200]]  # data request 2 (1: the listing)
        before = ask(last_page)["rows"]  # 3: sorted once and cached
        assert not sandbox.moved
        assert ask(last_page)["rows"] != before  # 4: epoch 2
        assert sandbox.moved
        assert ask(counted)["rows"] == [[records_count(2, 2)]]
        catalogue = session.get(f"{sandbox.url}/v1/datasets", params={"limit": 50}).json()
        catalogue += session.get(
            f"{sandbox.url}/v1/datasets", params={"limit": 50, "offset": 50}
        ).json()
        assert len(catalogue) == truth("edcast", seed=2, epoch=2)["datasets"]["rows"]


def records_count(seed: int, epoch: int) -> int:
    return wire_table(DataParams(seed, 1, epoch)).num_rows


def test_move_after_is_an_edcast_option() -> None:
    with pytest.raises(ValueError, match="move_after must be >= 1"):
        serve("edcast", move_after=0)
    with serve("edcast", move_after=1) as sandbox:
        assert not sandbox.moved
