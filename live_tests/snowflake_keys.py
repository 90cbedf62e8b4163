"""Read back, inside target-snowflake's venv, what a live test loaded into Snowflake.

stdin: ``{"config": target config, "schema": …, "keys": {table: [key columns]},
"drop": bool}``; stdout: per table the loaded key tuples. With ``drop`` the schema is
dropped afterwards.
"""

from __future__ import annotations

import json
import sys

import sqlalchemy as sa
from target_snowflake.connector import SnowflakeConnector


def main() -> None:
    given = json.load(sys.stdin)
    connector = SnowflakeConnector(config=given["config"])
    loaded = {}
    with connector.connect() as con:
        quote = con.dialect.identifier_preparer.quote
        schema = quote(given["schema"])
        for table, key in given["keys"].items():
            columns = ", ".join(quote(k) for k in key)
            query = f"SELECT {columns} FROM {schema}.{quote(table)}"  # noqa: S608 (quoted)
            loaded[table] = [list(row) for row in con.execute(sa.text(query))]
        if given.get("drop"):
            con.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema}"))
    json.dump(loaded, sys.stdout, default=str)


if __name__ == "__main__":
    main()
