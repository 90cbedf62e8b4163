"""Run the installed target-snowflake on a tap's Singer messages with only its
connection to Snowflake replaced: record what it would send.

Runs inside target-snowflake's own venv. stdin: ``{"config": the loader's resolved
config, "messages": path of the tap's output, "workdir": where to write}``. The target
reads the messages with its own code (the SDK's message handling, its sinks, its
connector's SQL); what is replaced is only what talks to the server:

- the engine is built without connecting (the connector's ``create_engine`` runs
  ``SHOW DATABASES`` first), so the identifier quoting is the real dialect's;
- ``_connect`` (every statement the sinks and the connector issue goes through it)
  yields a recorder: each statement's SQL and bound values are kept, and a ``PUT``
  reads the local file it names, as Snowflake's client would to upload it;
- reflection (does the schema, table, column exist) answers yes, as after a first run.

Writes ``recorded.json`` in the workdir (the target's STATE messages have stdout):
``{"versions": …, "statements": [{"sql", "params"}], "staged": {sync id: [rows as
uploaded]}, "error": None or "Type: message"}``.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import re
import sys
import typing as t
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import sqlalchemy as sa
from sqlalchemy.sql.compiler import RESERVED_WORDS
from target_snowflake.connector import SnowflakeConnector
from target_snowflake.target import TargetSnowflake

STATEMENTS: list[dict[str, t.Any]] = []
STAGED: dict[str, list[t.Any]] = {}
PUT_TARGET = re.compile(r"'@~/target-snowflake/([^']+)'")


def uploaded_rows(file_uri: str) -> list[t.Any]:
    """The rows of the file a PUT uploads (decompressed as the stage would)."""
    path = Path(url2pathname(urlparse(file_uri).path))
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] == b"PAR1":
        return [{"parquet file": str(path)}]
    return [json.loads(line) for line in data.splitlines() if line.strip()]


class Result:
    def fetchone(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def fetchall(self) -> list[t.Any]:
        return []

    rowcount = 0


class Recorder:
    """A connection that records what it is given."""

    @contextmanager
    def begin(self) -> t.Iterator[None]:
        yield

    def execute(self, statement: t.Any, parameters: t.Any = None, **_: t.Any) -> Result:
        compiled = statement.compile() if isinstance(statement, sa.TextClause) else None
        params = {**(compiled.params if compiled is not None else {}), **(parameters or {})}
        sql = str(statement)
        STATEMENTS.append({"sql": sql, "params": {k: str(v) for k, v in params.items()}})
        if sql.lstrip().lower().startswith("put"):
            match = PUT_TARGET.search(sql)
            assert match, sql
            STAGED.setdefault(match.group(1), []).extend(uploaded_rows(params["file_uri"]))
        return Result()


def engine_without_connecting(self: SnowflakeConnector) -> sa.Engine:
    engine = sa.create_engine(self.sqlalchemy_url)
    engine.dialect.identifier_preparer.reserved_words |= RESERVED_WORDS  # as create_engine
    return engine


@contextmanager
def recording(self: SnowflakeConnector) -> t.Iterator[Recorder]:
    yield Recorder()


def yes(*_: t.Any, **__: t.Any) -> bool:
    return True


def prepared(self: SnowflakeConnector, full_table_name: t.Any, schema: dict, **_: t.Any) -> None:
    STATEMENTS.append(
        {
            "sql": f"-- table {full_table_name} prepared",
            "params": {"columns": list(schema["properties"])},
        }
    )


def main() -> None:
    given = json.load(sys.stdin)
    replaced = {
        "create_engine": engine_without_connecting,
        "_connect": recording,
        "schema_exists": yes,
        "table_exists": yes,
        "column_exists": yes,
        "prepare_table": prepared,
    }
    for name, function in replaced.items():
        setattr(SnowflakeConnector, name, function)
    error = None
    try:
        target = TargetSnowflake(config=given["config"], validate_config=True)
        with Path(given["messages"]).open() as messages:
            target.listen(file_input=messages)
    except Exception as exc:  # reported, not raised: the caller asserts on it
        error = f"{type(exc).__name__}: {exc}"
    versions = {
        name: importlib.metadata.version(name)
        for name in ("meltanolabs-target-snowflake", "singer-sdk")
    }
    recorded = {"versions": versions, "statements": STATEMENTS, "staged": STAGED, "error": error}
    (Path(given["workdir"]) / "recorded.json").write_text(json.dumps(recorded))


if __name__ == "__main__":
    main()
