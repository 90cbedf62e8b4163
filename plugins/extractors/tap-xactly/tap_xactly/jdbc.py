"""JDBC from Python through JPype: the JVM, connections, errors, and Java values.

JayDeBeApi is not used: it needs the driver jar on the class path when the JVM
starts, its value converters cut nanoseconds wrongly, and its parameter binding has
no way to pass a timestamp. Here the driver is loaded from its jar by its own class
loader and called directly (``Driver.connect``), values are read with ``getObject``
(one call per cell) and turned into JSON-ready Python values by column kind, and
parameters are bound as Java objects.

A Java exception's text can hold the JDBC URL (with its parameters) and the login:
none leaves this boundary raw. :meth:`Driver.describe` words it for logs, and callers
raise their own exception ``from None`` (a :class:`JdbcError` where a retry may help).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jpype
from singer_sdk.exceptions import FatalAPIError

_jvm_lock = threading.Lock()
_loader_lock = threading.Lock()
_loaders: dict[tuple[str, str | None], Any] = {}


class JdbcSetupError(FatalAPIError):
    """The driver or the JVM cannot be used: a clear message, no retry."""


class JdbcError(Exception):
    """A JDBC failure as :meth:`Driver.describe` words it; the Java exception, whose
    text may hold the URL and the login, is not kept."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
        """Whether it would fail again (:func:`is_permanent`)."""


def _jvm_path() -> str:
    """The JVM library: JAVA_HOME's when it is set (never silently another Java)."""
    path = jpype.getDefaultJVMPath()
    home = os.environ.get("JAVA_HOME")
    if home and not Path(path).resolve().is_relative_to(Path(home).resolve()):
        msg = f"JAVA_HOME={home} holds no Java VM library; point it at a Java 11+ install"
        raise jpype.JVMNotFoundException(msg)
    return path


def start_jvm() -> None:
    """Start the JVM once per process, with the time zone UTC (see :func:`value_of`)."""
    with _jvm_lock:
        if not jpype.isJVMStarted():
            try:
                jpype.startJVM(_jvm_path(), convertStrings=True)
            except (jpype.JVMNotFoundException, jpype.JVMNotSupportedException, OSError) as exc:
                msg = (
                    f"tap-xactly cannot start a Java VM: {exc}. Install Java 11 or newer "
                    "and set JAVA_HOME to it (or unset JAVA_HOME to use the one on this machine)"
                )
                raise JdbcSetupError(msg) from None
        jpype.JClass("java.util.TimeZone").setDefault(
            jpype.JClass("java.util.TimeZone").getTimeZone("UTC")
        )


def _loader(jar: str, sha256: str | None) -> Any:
    """One class loader per driver jar (and expected hash), kept for the life of the
    process; with ``sha256``, of the jar's :func:`verified_copy`."""
    path = Path(jar).expanduser()
    if not path.is_file():
        msg = (
            f"tap-xactly `driver_jar`: no file at {path}; download Xactly Connect's JDBC "
            "driver and set driver_jar (TAP_XACTLY_DRIVER_JAR) to its path"
        )
        raise JdbcSetupError(msg)
    key = (str(path.resolve()), sha256)
    with _loader_lock:
        if key not in _loaders:
            loaded = path.resolve() if sha256 is None else verified_copy(path, sha256)
            start_jvm()  # after the check: a refused jar never meets the JVM
            url = jpype.JClass("java.io.File")(str(loaded)).toURI().toURL()
            system = jpype.JClass("java.lang.ClassLoader").getSystemClassLoader()
            _loaders[key] = jpype.JClass("java.net.URLClassLoader")([url], system)
        return _loaders[key]


def verified_copy(jar: Path, sha256: str) -> Path:
    """A private copy of ``jar`` whose bytes have the SHA-256 ``sha256`` (hex), or a
    :class:`JdbcSetupError` saying what to do (and no copy).

    The jar is read once: each chunk is hashed as it is written to a new directory only
    this user can enter (0700; the copy 0400). The class loader opens the copy, now
    and for every class it loads later, so the bytes checked are the bytes run, even
    if the file at ``driver_jar`` is replaced or rewritten meanwhile (a class loader
    cannot be given bytes instead of a file, and verifying the file where it is would
    leave that window). The copy is removed when the process exits.
    """
    directory = Path(tempfile.mkdtemp(prefix="tap-xactly-driver-"))
    copy = directory / jar.name
    digest = hashlib.sha256()
    try:
        with jar.open("rb") as source, copy.open("xb") as target:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                target.write(chunk)
        copy.chmod(0o400)
        found, expected = digest.hexdigest(), sha256.lower()
        if found != expected:
            msg = (
                f"tap-xactly `driver_sha256`: refusing the driver jar {jar}: its SHA-256 is "
                f"{found[:12]}…, expected {expected[:12]}…; upload the right jar "
                "(docs/runbook.md), or, if this jar is the right one, set driver_sha256 "
                f"(TAP_XACTLY_DRIVER_SHA256) to its hash (`sha256sum {jar}`)"
            )
            raise JdbcSetupError(msg)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return copy


_JDBC_URL = re.compile(r"jdbc:[^\s\"'<>]+", re.IGNORECASE)


def redacted(url: str) -> str:
    """A JDBC URL fit for logs: no ``user:password@``, query string or ``;key=value``
    options."""
    return re.split(r"[?;]", re.sub(r"//[^/@]*@", "//", url), maxsplit=1)[0]


@dataclass(frozen=True)
class Driver:
    """How to open a connection: the jar, its driver class, the URL and the login."""

    jar: str
    driver_class: str
    url: str
    user: str
    password: str
    sha256: str | None = None
    """The jar's SHA-256 (hex): a jar with another is refused before it is loaded."""
    hidden: tuple[str, ...] = ()
    """More values never shown in messages (the client id and the consumer)."""

    @property
    def redacted_url(self) -> str:
        """The URL fit for logs (:func:`redacted`)."""
        return redacted(self.url)

    def describe(self, exc: BaseException) -> str:
        """The first line of a (Java) exception's message, fit for logs: every JDBC URL
        in it :func:`redacted`, the password blanked out wherever it appears, the user
        and the hidden values wherever they stand alone (any case: drivers upper-case
        names they echo)."""
        text = ""
        if isinstance(exc, jpype.JException):  # its str() adds the Java stack
            text = str(exc.getMessage() or exc.getClass().getName())
        lines = (text or str(exc)).strip().splitlines()
        message = _JDBC_URL.sub(lambda url: redacted(url.group()), lines[0] if lines else "")
        if self.password:
            message = re.sub(re.escape(self.password), "***", message, flags=re.IGNORECASE)
        for value in (self.user, *self.hidden):
            if value:
                alone = rf"(?<![^\W_]){re.escape(value)}(?![^\W_])"
                message = re.sub(alone, "***", message, flags=re.IGNORECASE)
        return message or type(exc).__name__

    def failure(self, exc: BaseException) -> JdbcError:
        """``exc`` (from a JDBC call) as a :class:`JdbcError`."""
        return JdbcError(self.describe(exc), permanent=is_permanent(exc))

    def connect(self) -> Any:
        """A new ``java.sql.Connection``, marked read-only (a hint the driver may ignore)."""
        loader = _loader(self.jar, self.sha256)
        jpype.JClass("java.lang.Thread").currentThread().setContextClassLoader(loader)
        try:
            driver = jpype.JClass(self.driver_class, loader=loader)()
        except (TypeError, jpype.JException) as exc:
            msg = (
                f"tap-xactly `driver_class`: {self.driver_class} is not in {self.jar} "
                f"({self.describe(exc)}); check driver_class and driver_jar"
            )
            raise JdbcSetupError(msg) from None
        props = jpype.JClass("java.util.Properties")()
        props.setProperty("user", self.user)
        props.setProperty("password", self.password)
        connection = driver.connect(self.url, props)
        if connection is None:
            msg = (
                f"tap-xactly `jdbc_url`: {self.driver_class} does not accept the URL "
                f"{self.redacted_url}; check jdbc_url"
            )
            raise JdbcSetupError(msg)
        connection.setReadOnly(True)
        return connection


class ConnectionPool:
    """Open connections kept for the next table: opening one is a login, and closing
    one can take a round trip (about 0.1 s with H2), which per table adds up."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.driver.connect()

    def release(self, connection: Any) -> None:
        """Give back a connection that works (a broken one is closed: :meth:`discard`)."""
        with self._lock:
            self._idle.append(connection)

    @staticmethod
    def discard(connection: Any) -> None:
        with contextlib.suppress(jpype.JException):  # already broken: hence discarded
            connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            self.discard(connection)


_SQL_EXCEPTION = "java.sql.SQLException"
# Errors no retry can fix: bad SQL or an object missing (42), login refused (28).
_PERMANENT_STATES = ("42", "28")
_PERMANENT_CLASSES = (
    "java.sql.SQLSyntaxErrorException",
    "java.sql.SQLInvalidAuthorizationSpecException",
    "java.sql.SQLFeatureNotSupportedException",
)


def is_permanent(exc: BaseException) -> bool:
    """Whether a JDBC failure would fail again (anything else is worth a reconnect).

    The vendor's SQLStates are unknown, so every error is retried except those the
    JDBC standard classifies as syntax, authorisation or unsupported-feature errors.
    """
    if not isinstance(exc, jpype.JException):
        return False
    for name in _PERMANENT_CLASSES:
        if isinstance(exc, jpype.JClass(name)):
            return True
    if isinstance(exc, jpype.JClass(_SQL_EXCEPTION)):
        state = str(exc.getSQLState() or "")
        return state.startswith(_PERMANENT_STATES)
    return False


# --- values ---------------------------------------------------------------------------

# java.sql.Types constants (fixed by the JDBC specification).
_INTEGER_TYPES = frozenset({-7, -6, 5, 4, -5})  # BIT, TINYINT, SMALLINT, INTEGER, BIGINT
_DECIMAL_TYPES = frozenset({2, 3})  # NUMERIC, DECIMAL
_FLOAT_TYPES = frozenset({6, 7, 8})  # FLOAT, REAL, DOUBLE
_BOOLEAN = 16
_DATE, _TIME, _TIMESTAMP, _TIMESTAMP_TZ = 91, 92, 93, 2014
_CLOB_TYPES = frozenset({2005, 2011})  # CLOB, NCLOB


def kind_of(sql_type: int, scale: int | None) -> str:
    """The value kind of a column: integer, decimal, float, boolean, date, time,
    timestamp (no zone: taken as UTC), timestamptz, or string (anything else)."""
    if sql_type == -7 or sql_type == _BOOLEAN:
        return "boolean"
    if sql_type in _INTEGER_TYPES:
        return "integer"
    if sql_type in _DECIMAL_TYPES:
        return "integer" if scale == 0 else "decimal"
    if sql_type in _FLOAT_TYPES:
        return "float"
    return {
        _DATE: "date",
        _TIME: "time",
        _TIMESTAMP: "timestamp",
        _TIMESTAMP_TZ: "timestamptz",
    }.get(sql_type, "string")


JSON_SCHEMA: dict[str, dict[str, Any]] = {
    "integer": {"type": ["integer", "null"]},
    "decimal": {"type": ["number", "null"]},
    "float": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "time": {"type": ["string", "null"], "format": "time"},
    "timestamp": {"type": ["string", "null"], "format": "date-time"},
    "timestamptz": {"type": ["string", "null"], "format": "date-time"},
    "string": {"type": ["string", "null"]},
}

_EXTRA_DIGITS = re.compile(r"(\.\d{6})\d+")


def iso_instant(moment: datetime) -> str:
    """UTC, always with microseconds: equal-length strings sort as instants do."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}+00:00"


def parse_instant(text: str) -> datetime:
    """A Java or ISO 8601 date-time text as a naive UTC datetime (nanoseconds cut)."""
    parsed = datetime.fromisoformat(_EXTRA_DIGITS.sub(r"\1", text.replace("Z", "+00:00")))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def value_of(obj: Any, kind: str) -> Any:
    """A Java value from ``getObject`` as a JSON-ready Python value of its column kind.

    Date-times go through their Java text (``java.sql.Timestamp`` and ``java.time``
    types print ISO-like text); the JVM's zone is UTC, so a TIMESTAMP's text is its
    stored wall-clock time.
    """
    if obj is None:
        return None
    if kind == "string":
        if isinstance(obj, str):
            return obj
        if isinstance(obj, jpype.JClass("java.sql.Clob")):
            return str(obj.getSubString(1, int(obj.length())))
        return str(obj)
    if kind == "integer":
        return int(obj) if isinstance(obj, int) else int(Decimal(str(obj)))
    if kind == "decimal":
        return Decimal(str(obj))
    if kind == "float":
        return float(obj)
    if kind == "boolean":
        return bool(obj)
    if kind in ("timestamp", "timestamptz"):
        return iso_instant(parse_instant(str(obj)))
    return str(obj)  # date (yyyy-mm-dd) and time (hh:mm:ss)


def java_param(value: Any, kind: str) -> Any:
    """A bookmark (JSON value from the state) as the Java object to bind for ``kind``."""
    if value is None:
        return None
    if kind in ("timestamp", "timestamptz"):
        text = f"{parse_instant(str(value)):%Y-%m-%d %H:%M:%S.%f}"
        return jpype.JClass("java.sql.Timestamp").valueOf(text)
    if kind == "date":
        return jpype.JClass("java.sql.Date").valueOf(str(value)[:10])
    if kind == "decimal":
        return jpype.JClass("java.math.BigDecimal")(str(value))
    if kind == "integer":
        return jpype.JLong(int(value))
    return value
