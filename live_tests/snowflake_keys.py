"""Read back, inside target-snowflake's venv, what a live test loaded into Snowflake.

stdin: ``{"config": target config, "schema": …, "keys": {table: [key columns]},
"rows": [tables], "drop": bool}``; stdout: ``{"keys": {table: [key tuples]}, "rows":
{table: [{column: value}]}, "timezone": the session's TIMEZONE}`` (values as JSON:
timestamps and dates in ISO form, numbers as numbers). With ``drop`` the schema is
dropped afterwards.
"""

from __future__ import annotations

import json
import sys
import typing as t
from datetime import date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
from target_snowflake.connector import SnowflakeConnector


def plain(value: t.Any) -> t.Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def main() -> None:
    given = json.load(sys.stdin)
    connector = SnowflakeConnector(config=given["config"])
    keys, rows = {}, {}
    with connector.connect() as con:
        quote = con.dialect.identifier_preparer.quote
        schema = quote(given["schema"])
        for table, key in given.get("keys", {}).items():
            columns = ", ".join(quote(k) for k in key)
            query = f"SELECT {columns} FROM {schema}.{quote(table)}"  # noqa: S608 (quoted)
            keys[table] = [list(row) for row in con.execute(sa.text(query))]
        for table in given.get("rows", []):
            query = f"SELECT * FROM {schema}.{quote(table)}"  # noqa: S608 (quoted)
            rows[table] = [dict(row._mapping) for row in con.execute(sa.text(query))]
        found = con.execute(sa.text("SHOW PARAMETERS LIKE 'TIMEZONE' IN SESSION")).fetchone()
        timezone = found[1] if found is not None else None
        if given.get("drop"):
            con.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema}"))
    json.dump({"keys": keys, "rows": rows, "timezone": timezone}, sys.stdout, default=plain)


if __name__ == "__main__":
    main()
