"""tap-xactly: Xactly Incent data through Xactly Connect's SQL (xSQL) over JDBC.

The vendor's driver jar is the user's (``driver_jar``); any JDBC database can stand
in (``driver_class``, ``jdbc_url``). Streams are the spec's tables and their
``_hist`` twins, found in the database; columns and types come from its metadata.
Tables are read in parallel, one connection each (``max_parallel_streams``). How
each table is read, and how deletions reach the warehouse: ``tap_xactly.streams``.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import quote as percent_encoded

import jpype
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from typing_extensions import override

from tap_xactly.jdbc import ConnectionPool, Driver, is_permanent, kind_of
from tap_xactly.keyset import identifier
from tap_xactly.streams import Column, Table, TableStream
from tapkit.concurrency import ConcurrentTap, parallel_streams_setting, sync_settings
from tapkit.retry import retry_settings

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

XACTLY_URL = (
    "jdbc:xactly://api.xactlycorp.com:443/api?sslVerifyServer=true"
    "&clientId={client_id}&consumer={consumer}"
)

# Xactly Connect's tables and their keys (docs/vendors/xactly.md). A ``<table>_hist``
# twin, where the database has one, keeps every version: its key adds VERSION.
PRIMARY_KEYS: dict[str, str] = {
    "xc_attainment_measure": "ATTAINMENT_MEASURE_ID",
    "xc_attainment_measure_criteria": "ATTAINMENT_MEASURE_CRITERIA_ID",
    "xc_credit": "CREDIT_ID",
    "xc_credit_adjustment": "CREDIT_ADJUSTMENT_ID",
    "xc_credit_held": "CREDIT_HELD_ID",
    "xc_credit_totals": "CREDIT_TOTALS_ID",
    "xc_credit_type": "CREDIT_TYPE_ID",
    "xc_position": "POSITION_ID",
    "xc_pos_hierarchy": "POS_HIERARCHY_ID",
    "xc_pos_hierarchy_type": "POS_HIERARCHY_TYPE_ID",
    "xc_pos_part_assignment": "POS_PART_ASSIGNMENT_ID",
    "xc_pos_relations": "ID",
    "xc_pos_rel_type": "POS_REL_TYPE_ID",
    "xc_pos_title_assignment": "POS_TITLE_ASSIGNMENT_ID",
    "xc_quota": "QUOTA_ID",
    "xc_quota_assignment": "QUOTA_ASSIGNMENT_ID",
    "xc_quota_relationship": "QUOTA_RELATIONSHIP_ID",
    "xc_quota_totals": "QUOTA_TOTALS_ID",
    "xc_role": "ROLE_ID",
    "xc_participant": "PARTICIPANT_ID",
    "xc_period": "PERIOD_ID",
    "xc_period_type": "PERIOD_TYPE_ID",
    "xc_plan": "PLAN_ID",
    "xc_plan_assignment": "PLAN_ASSIGNMENT_ID",
    "xc_user": "USER_ID",
}
SHA256_HEX = "^[0-9a-fA-F]{64}$"
HISTORY_SUFFIX = "_hist"
NO_NULLS = 0  # DatabaseMetaData.columnNoNulls


def filled_url(template: str, client_id: str, consumer: str) -> str:
    """``jdbc_url`` with ``{client_id}`` and ``{consumer}`` filled in percent-encoded:
    ``&``, ``;``, ``=``, ``?``, ``#`` in a value cannot start a parameter of its own."""
    try:
        return template.format(
            client_id=percent_encoded(client_id, safe=""),
            consumer=percent_encoded(consumer, safe=""),
        )
    except (KeyError, IndexError, ValueError) as exc:
        msg = f"tap-xactly `jdbc_url`: only {{client_id}} and {{consumer}} are filled in ({exc})"
        raise ConfigValidationError(msg, errors=[msg]) from None


class TapXactly(ConcurrentTap):
    """Singer tap for Xactly Connect (Xactly Incent) over JDBC."""

    name = "tap-xactly"

    config_jsonschema = th.PropertiesList(
        th.Property("user", th.StringType, required=True, description="Xactly Connect user"),
        th.Property("password", th.StringType, required=True, secret=True),
        th.Property("client_id", th.StringType, required=True, description="Xactly client id"),
        th.Property("consumer", th.StringType, required=True, description="Xactly consumer"),
        th.Property(
            "driver_jar",
            th.StringType,
            required=True,
            description="Path of the JDBC driver jar (Xactly's jar is never committed).",
        ),
        th.Property(
            "driver_sha256",
            th.StringType(pattern=SHA256_HEX),
            description=(
                "SHA-256 (hex) of the driver jar: a jar with another is refused before it "
                "is loaded. Required in staging and production; dev, ci and the sandbox "
                "may leave it unset (the jar is then not checked)."
            ),
        ),
        th.Property("driver_class", th.StringType, default="com.xactly.connect.jdbc.Driver"),
        th.Property(
            "jdbc_url",
            th.StringType,
            default=XACTLY_URL,
            description=(
                "JDBC URL; {client_id} and {consumer} are filled in, percent-encoded (a "
                "value cannot add URL parameters)."
            ),
        ),
        th.Property(
            "schema",
            th.StringType,
            default="xactly",
            description="Schema holding the XC_ tables (matched ignoring case).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Full reads (first sync, after deletions, --full-refresh) send the rows "
                "modified at or after this instant (UTC), and those without MODIFIED_DATE."
            ),
        ),
        th.Property(
            "lookback_seconds",
            th.IntegerType(minimum=0),
            default=3600,
            description=(
                "Each run re-reads rows modified this long before its bookmark: rows a "
                "lagging replica commits late, with an older MODIFIED_DATE."
            ),
        ),
        th.Property(
            "page_size", th.IntegerType(minimum=1), default=10000, description="Rows per query."
        ),
        parallel_streams_setting(
            4, "Tables read at once, one connection each (1 = one after another)."
        ),
        *retry_settings(5, 2.0, "page (each on a new connection)"),
        *sync_settings(),
        th.Property(
            "query_timeout_seconds",
            th.IntegerType,
            default=600,
            description="Seconds one page query may take (0 = no limit).",
        ),
    ).to_dict()

    def driver(self) -> Driver:
        login = {name: str(self.config[name]) for name in ("client_id", "consumer")}
        sha256 = self.config.get("driver_sha256")
        return Driver(
            jar=str(self.config["driver_jar"]),
            driver_class=str(self.config["driver_class"]),
            url=filled_url(str(self.config["jdbc_url"]), **login),
            user=str(self.config["user"]),
            password=str(self.config["password"]),
            sha256=None if sha256 is None else str(sha256).lower(),
            hidden=tuple(login.values()),
        )

    @override
    def discover_streams(self) -> list[Stream]:
        return [TableStream(self, table, self.pool) for table in self._tables()]

    @cached_property
    def pool(self) -> ConnectionPool:
        """Connections shared by the streams, one at a time each (closed after the sync)."""
        return ConnectionPool(self.driver())

    @override
    def sync_selected(self) -> None:
        """Sync the selected tables, then close the pooled connections."""
        try:
            super().sync_selected()
        finally:
            self.pool.close()

    def _tables(self) -> list[Table]:
        """The spec's tables found in the database, typed from its metadata."""
        driver = self.pool.driver
        try:
            connection = self.pool.acquire()
        except jpype.JException as exc:
            hint = "check user and password" if is_permanent(exc) else "check jdbc_url"
            msg = (
                f"tap-xactly cannot connect to {driver.redacted_url}: "
                f"{driver.describe(exc)} ({hint})"
            )
            raise FatalAPIError(msg) from None
        try:
            meta = connection.getMetaData()
            quote = str(meta.getIdentifierQuoteString() or "")
            schema = self._schema_name(meta)
            found: dict[str, list[tuple[int, Column]]] = {}
            columns = meta.getColumns(None, schema, "%", "%")
            while columns.next():
                name = str(columns.getString("COLUMN_NAME"))
                scale = columns.getInt("DECIMAL_DIGITS")
                scale_known = not columns.wasNull()  # right after the value it is about
                column = Column(
                    name,
                    kind_of(columns.getInt("DATA_TYPE"), scale if scale_known else None),
                    identifier(name, quote),
                    nullable=columns.getInt("NULLABLE") != NO_NULLS,
                )
                table = str(columns.getString("TABLE_NAME"))
                found.setdefault(table, []).append((columns.getInt("ORDINAL_POSITION"), column))
            columns.close()
        except jpype.JException as exc:
            self.pool.discard(connection)
            msg = (
                f"tap-xactly cannot read the tables of {driver.redacted_url}: "
                f"{driver.describe(exc)}"
            )
            raise FatalAPIError(msg) from None
        except BaseException:
            self.pool.discard(connection)
            raise
        self.pool.release(connection)
        by_lower = {name.lower(): name for name in found}
        tables: list[Table] = []
        for stream, key in PRIMARY_KEYS.items():
            for name in (stream, stream + HISTORY_SUFFIX):
                if name not in by_lower:
                    if name == stream:
                        self.logger.warning("tap-xactly: no table %s in %s", stream, schema)
                    continue
                cols = tuple(c for _, c in sorted(found[by_lower[name]], key=lambda p: p[0]))
                found_table = self._table(name, schema, by_lower[name], cols, key, quote)
                if found_table is not None:
                    tables.append(found_table)
        if not tables:
            msg = f"tap-xactly: schema {schema} holds none of Xactly Connect's XC_ tables"
            raise FatalAPIError(msg)
        return tables

    def _schema_name(self, meta: t.Any) -> str:
        wanted = str(self.config["schema"])
        result = meta.getSchemas()
        names = []
        while result.next():
            names.append(str(result.getString("TABLE_SCHEM")))
        result.close()
        matches = [n for n in names if n.lower() == wanted.lower()]
        if not matches:
            msg = f"tap-xactly `schema`: no schema {wanted!r} in the database (found {names})"
            raise ConfigValidationError(msg, errors=[msg])
        return matches[0]

    def _table(
        self, stream: str, schema: str, name: str, columns: tuple[Column, ...], key: str, quote: str
    ) -> Table | None:
        names = {c.name for c in columns}
        history = stream.endswith(HISTORY_SUFFIX)
        if history and key not in names and "OBJECT_ID" in names:
            key = "OBJECT_ID"  # a history table may carry the object's key only as OBJECT_ID
        keys = (key, "VERSION") if history else (key,)
        missing = [k for k in keys if k not in names]
        if missing:
            self.logger.error(
                "tap-xactly: table %s has no %s (its key); stream %s is left out",
                name,
                ", ".join(missing),
                stream,
            )
            return None
        sql = f"{identifier(schema, quote)}.{identifier(name, quote)}"
        return Table(stream, sql, columns, keys)


if __name__ == "__main__":
    TapXactly.cli()
