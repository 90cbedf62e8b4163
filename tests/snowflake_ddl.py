"""Compile, without connecting, the DDL target-snowflake would issue for a tap's catalog.

Runs inside target-snowflake's own venv (its connector, its Snowflake SQLAlchemy
dialect): reads ``{"config": …, "catalog": …}`` on stdin and prints, as JSON, the
CREATE SCHEMA statement and per stream the CREATE TABLE statement and column types.
"""

from __future__ import annotations

import json
import sys

import sqlalchemy as sa
from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
from sqlalchemy.schema import CreateSchema, CreateTable
from target_snowflake.connector import SnowflakeConnector


def main() -> None:
    given = json.load(sys.stdin)
    connector = SnowflakeConnector(config=given["config"])
    dialect = SnowflakeDialect()
    schema = given["config"]["default_target_schema"]
    tables = {}
    for stream in given["catalog"]["streams"]:
        columns = [
            sa.Column(name, connector.to_sql_type(prop))
            for name, prop in stream["schema"]["properties"].items()
        ]
        table = sa.Table(stream["tap_stream_id"], sa.MetaData(schema=schema), *columns)
        tables[stream["tap_stream_id"]] = {
            "ddl": str(CreateTable(table).compile(dialect=dialect)),
            "types": {c.name: str(c.type.compile(dialect=dialect)) for c in columns},
        }
    schema_ddl = str(CreateSchema(schema).compile(dialect=dialect))
    json.dump({"schema_ddl": schema_ddl, "tables": tables}, sys.stdout)


if __name__ == "__main__":
    main()
