"""ZenGRC API v2 simulator (see specs/zengrc.md).

Data: 11 collections, about 120 objects each at scale 1 (the counts in ``COLLECTIONS``
times scale), ids ascending with occasional gaps. Epoch 0 is the base snapshot (timestamps in
2023-2024); each later epoch ``e`` takes epoch ``e - 1`` and, per collection, updates
about 10% of the objects (status, title and/or one custom attribute value, plus a later
``updated_at``) and appends about 10% new objects with higher ids. Epoch ``e`` changes
happen within month ``e`` of 2025 (then 2026, …), so they are strictly later than
everything before. Per collection and epoch, about a quarter of the touched objects share
one of two "bulk edit" seconds, the later of which is the epoch's maximum ``updated_at``.

Deletions, from epoch 2 on: each epoch deletes about 3% of each collection's objects
(``DELETE_FRACTION``, drawn among those it does not update). In ZenGRC a deleted object
simply disappears: the list no longer returns it and ``GET <collection>/<id>`` answers
404; nothing marks it (no tombstone, no ``deleted_at``, no list of deleted ids). New ids
continue after the highest id ever given, and codes after the highest code number, so a
deleted id or code never returns. The spec is silent on references to a deleted object:
the sandbox leaves them in the objects that held them (which keep their ``updated_at``).

The clock: every answer carries an HTTP ``Date`` (RFC 9110 IMF-fixdate), as real servers
send it. The spec says nothing of ZenGRC's clock; the sandbox's reads, at epoch ``e``,
the epoch's last change (:func:`clock`): at or after every ``updated_at`` the epoch holds
and strictly before every ``updated_at`` epoch ``e + 1`` writes. It stands still within
an epoch.

``move_after=N``: after answering N requests (any answer of the app: the faults the
server injects never reach it) the app serves epoch ``e + 1`` (once) and its clock
moves on with it, as a live tenant changes under a long scan. The cursor (the last
id of the previous page) stays valid: objects before it are not served again, new ids
come after it, deleted ones are gone. ``ZenGRCApp.moved`` tells whether it happened.

Choices where the spec is silent: ``GET <collection>/<id>`` answers ``{"data": {…}}``;
``risk_vector_score_values`` is a list of ``{"id", "name", "value"}`` objects; the
``requests.audit`` ref is ``{"id", "title"}`` (as in the spec); the cursor is opaque
(base64 of collection and last id) and a malformed one gets 400; unknown query
parameters are ignored; only GET is allowed (405 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import functools
import hmac
import json
import random
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from dataops.sandbox.vendor import DataParams, Dataset, Record, Request, Response, Vendor
from dataops.sandbox.vendor import json_response as _json

BASE_PATH = "/api/v2"
CREDENTIALS = {"username": "sandbox-key", "password": "sandbox-secret"}
DEFAULT_PAGE_SIZE = 50

# collection: (object type, code prefix, objects at scale 1)
COLLECTIONS: dict[str, tuple[str, str, int]] = {
    "assessments": ("Assessment", "ASSESSMENT", 140),
    "audits": ("Audit", "AUDIT", 80),
    "controls": ("Control", "CONTROL", 160),
    "issues": ("Issue", "ISSUE", 130),
    "objectives": ("Objective", "OBJECTIVE", 110),
    "programs": ("Program", "PROGRAM", 90),
    "requests": ("Request", "REQUEST", 150),
    "risks": ("Risk", "RISK", 120),
    "vendors": ("Vendor", "VENDOR", 100),
    "people": ("Person", "PERSON", 140),
    "systems": ("System", "SYSTEM", 100),
}

STATUSES: dict[str, list[str]] = {
    "assessments": ["Not Started", "In Progress", "Ready for Review", "Completed"],
    "audits": ["Planned", "In Progress", "Manager Review", "Completed"],
    "issues": ["Open", "In Progress", "Fixed", "Closed"],
    "requests": ["Open", "In Progress", "Finished", "Verified"],
    "people": ["Active", "Inactive"],
}
DEFAULT_STATUSES = ["Draft", "Active", "Under Review", "Deprecated"]

# collection: {mapped key: referenced object type}
MAPPED: dict[str, dict[str, str]] = {
    "audits": {"markets": "Market", "standards": "Standard"},
    "assessments": {"audits": "Audit"},
    "controls": {"objectives": "Objective"},
    "issues": {
        "audits": "Audit",
        "controls": "Control",
        "programs": "Program",
        "standards": "Standard",
    },
    "requests": {"controls": "Control", "issues": "Issue", "programs": "Program"},
    "programs": {
        "assessments": "Assessment",
        "issues": "Issue",
        "org_groups": "OrgGroup",
        "requests": "Request",
        "risks": "Risk",
        "standards": "Standard",
        "systems": "System",
    },
    "vendors": {
        "data_assets": "DataAsset",
        "facilities": "Facility",
        "products": "Product",
        "systems": "System",
        "tasks": "Task",
    },
}

# Mapped object types that are not served collections: a small fixed catalog each.
CATALOG: dict[str, list[str]] = {
    "Market": ["North America", "EMEA", "APAC", "LATAM"],
    "Standard": ["ISO 27001", "SOC 2", "PCI DSS", "NIST 800-53", "HIPAA", "GDPR"],
    "OrgGroup": ["Finance", "Engineering", "Security", "Legal", "People Ops"],
    "DataAsset": ["Customer DB", "Billing ledger", "HR records", "Product analytics"],
    "Facility": ["HQ San Francisco", "Dublin office", "Frankfurt DC", "Remote"],
    "Product": ["Core platform", "Mobile app", "Data API", "Billing"],
    "Task": ["Annual review", "Contract renewal", "SIG questionnaire", "Pen test follow-up"],
}

TOPICS = [
    "Access review",
    "Change management",
    "Backup & restore",
    "Vendor due diligence",
    "Incident response",
    "Encryption at rest",
    "Segregation of duties",
    "Logging and monitoring",
    "Onboarding/offboarding",
    "Business continuity",
]
AREAS = [
    "production",
    "finance systems",
    "HR",
    "cloud infra",
    'the "crown jewels"',
    "Zürich office",
]
TAGS = ["sox", "itgc", "security", "privacy", "q1", "q2", "q3", "q4", "customer-facing"]
FIRST_NAMES = ["Ana", "José", "Zoë", "Søren", "Priya", "Kwame", "Olga", "Chen", "Fatima", "Liam"]
LAST_NAMES = ["García", "Müller", "O'Brien", "Nguyen", "Smith", "Kowalski", "Okafor", "Tanaka"]
RISK_VECTORS = [(1, "Likelihood"), (2, "Impact"), (3, "Velocity"), (4, "Detectability")]

# Custom attribute templates: (title, kind, choices for kind "choice").
ATTRIBUTE_TEMPLATES: list[tuple[str, str, list[str]]] = [
    ("Business Unit", "choice", ["Finance", "Engineering", "Sales", "Legal"]),
    ("Region", "choice", ["AMER", "EMEA", "APAC"]),
    ("Audit Category", "choice", ["ITGC", "SOX", "Operational", "Compliance"]),
    ("Risk Score", "integer", []),
    ("Coverage %", "decimal", []),
    ("SOX Relevant", "boolean", []),
    ("Customer Facing", "boolean", []),
    ("External Reference", "text", []),
]
COLLECTION_OF_TYPE = {spec[0]: collection for collection, spec in COLLECTIONS.items()}
ID_STEPS = [1, 1, 1, 1, 2, 3, 7]
UPDATE_FRACTION = 0.10
NEW_FRACTION = 0.10
BULK_FRACTION = 0.25
DELETES_FROM_EPOCH, DELETE_FRACTION = 2, 0.03
"""From this epoch on, each epoch deletes this share of each collection's objects."""


@dataclass(frozen=True)
class _Attribute:
    id: int
    title: str
    kind: str
    choices: tuple[str, ...]

    def value(self, rng: random.Random) -> Any:
        if rng.random() < 0.1:
            return None
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.kind == "integer":
            return rng.randint(1, 25)
        if self.kind == "decimal":
            return round(rng.uniform(0, 100), 1)
        if self.kind == "boolean":
            return rng.random() < 0.5
        return f"REF-{rng.randint(1000, 9999)}"


@dataclass(frozen=True)
class _Window:
    """Where an epoch's timestamps fall; ``bulk`` are the shared seconds, bulk[1] the last."""

    start: datetime
    created_end: datetime
    bulk: tuple[datetime, datetime]


def _window(epoch: int) -> _Window:
    if epoch == 0:
        return _Window(
            datetime(2023, 1, 1, tzinfo=UTC),
            datetime(2024, 10, 31, tzinfo=UTC),
            (datetime(2024, 12, 15, 2, tzinfo=UTC), datetime(2024, 12, 31, 18, tzinfo=UTC)),
        )
    year, month = divmod(epoch - 1, 12)
    first = datetime(2025 + year, month + 1, 1, tzinfo=UTC)
    return _Window(
        first,
        first.replace(day=20),
        (first.replace(day=25, hour=3), first.replace(day=28, hour=18)),
    )


def clock(epoch: int) -> datetime:
    """The server's clock at ``epoch``: the epoch's last change (see the module docstring)."""
    return _window(epoch).bulk[1]


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + timedelta(seconds=rng.randint(0, int((high - low).total_seconds())))


def _stamp(rng: random.Random, low: datetime, window: _Window) -> datetime:
    """An ``updated_at`` in ``[low, window end]``, often one of the shared bulk seconds."""
    if rng.random() < BULK_FRACTION:
        bulk = rng.choice(window.bulk)
        if bulk >= low:
            return bulk
    return _between(rng, low, window.bulk[1])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(rng: random.Random, after: date, max_days: int) -> str:
    return (after + timedelta(days=rng.randint(0, max_days))).isoformat()


def _maybe(rng: random.Random, value: Any, null_rate: float = 0.15) -> Any:
    return None if rng.random() < null_rate else value


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("ø", "o")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


class _Tenant:
    """Seed-derived facts shared by all epochs: attribute ids, base ids, ref targets."""

    def __init__(self, seed: int, scale: int) -> None:
        self.seed = seed
        self._names: dict[int, tuple[str, str]] = {}
        self._titles: dict[tuple[str, int], str] = {}
        rng = random.Random(f"{seed}/tenant")
        attribute_ids = iter(rng.sample(range(10, 10_000), 4 * len(COLLECTIONS)))
        self.attributes: dict[str, list[_Attribute]] = {}
        self.base_ids: dict[str, list[int]] = {}
        for collection, (_, _, count) in COLLECTIONS.items():
            templates = rng.sample(ATTRIBUTE_TEMPLATES, rng.randint(2, 4))
            attributes = [
                _Attribute(next(attribute_ids), title, kind, tuple(choices))
                for title, kind, choices in templates
            ]
            self.attributes[collection] = sorted(attributes, key=lambda a: a.id)
            id_rng = random.Random(f"{seed}/{collection}/ids")
            ids, current = [], id_rng.randint(0, 20)
            for _ in range(count * scale):
                current += id_rng.choice(ID_STEPS)
                ids.append(current)
            self.base_ids[collection] = ids

    def person_name(self, person_id: int) -> tuple[str, str]:
        if person_id not in self._names:
            rng = random.Random(f"{self.seed}/people/{person_id}/name")
            self._names[person_id] = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        return self._names[person_id]

    def title(self, collection: str, object_id: int) -> str:
        """An object's original title (a person's is their name)."""
        if collection == "people":
            return " ".join(self.person_name(object_id))
        key = (collection, object_id)
        if key not in self._titles:
            rng = random.Random(f"{self.seed}/{collection}/{object_id}/title")
            self._titles[key] = f"{rng.choice(TOPICS)} — {rng.choice(AREAS)}"
        return self._titles[key]

    def person(self, rng: random.Random) -> dict[str, Any]:
        person_id = rng.choice(self.base_ids["people"])
        return {"id": person_id, "name": self.title("people", person_id), "type": "Person"}

    def people(self, rng: random.Random, most: int = 3) -> list[dict[str, Any]]:
        return _by_id(self.person(rng) for _ in range(rng.randint(0, most)))

    def ref(
        self, rng: random.Random, object_type: str, *, with_type: bool = True
    ) -> dict[str, Any]:
        collection = COLLECTION_OF_TYPE.get(object_type)
        if collection is None:
            index = rng.randrange(len(CATALOG[object_type]))
            ref: dict[str, Any] = {"id": index + 1, "title": CATALOG[object_type][index]}
        else:
            ref_id = rng.choice(self.base_ids[collection])
            ref = {"id": ref_id, "title": self.title(collection, ref_id)}
        if with_type:
            ref["type"] = object_type
        return ref

    def refs(self, rng: random.Random, object_type: str) -> list[dict[str, Any]]:
        return _by_id(self.ref(rng, object_type) for _ in range(rng.randint(0, 3)))


def _by_id(refs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refs without duplicates, sorted by id."""
    unique = {ref["id"]: ref for ref in refs}
    return [unique[key] for key in sorted(unique)]


def _url(rng: random.Random, slug: str) -> str | None:
    return _maybe(rng, f"https://{slug}.example.com/{rng.randint(1, 999)}", 0.3)


def _extras(t: _Tenant, collection: str, rng: random.Random, created: date) -> Record:
    """The collection specific fields of a new object (spec table; people/systems: ours)."""
    start = _day(rng, created, 30)
    end = _maybe(rng, _day(rng, date.fromisoformat(start), 180))
    tags = sorted(set(rng.sample(TAGS, rng.randint(0, 3))))
    if collection == "audits":
        return {
            "audit_managers": t.people(rng),
            "program": t.ref(rng, "Program"),
            "start_date": start,
            "end_date": end,
            "report_period_start_date": _day(rng, created, 10),
            "report_period_end_date": _maybe(rng, _day(rng, created, 120)),
            "sync_external_attachments": rng.random() < 0.5,
            "sync_external_comments": rng.random() < 0.5,
        }
    if collection == "assessments":
        return {
            "assessors": t.people(rng),
            "conclusion": _maybe(
                rng, rng.choice(["Effective", "Ineffective", "Needs Improvement"]), 0.3
            ),
            "control": t.ref(rng, "Control"),
            "start_date": start,
            "end_date": end,
        }
    if collection == "objectives":
        return {"os_state": rng.choice(["Draft", "Reviewed", "Unreviewed"])}
    if collection == "issues":
        return {
            "notes": _maybe(rng, f"Raised during {rng.choice(TOPICS).lower()}.", 0.4),
            "stop_date": _maybe(rng, _day(rng, created, 90), 0.5),
            "tags": tags,
        }
    if collection == "requests":
        return {
            "assignees": t.people(rng),
            "requesters": t.people(rng, 2),
            "audit": t.ref(rng, "Audit", with_type=False),
            "start_date": start,
            "end_date": end,
            "stop_date": _maybe(rng, _day(rng, created, 90), 0.5),
            "due_date": _day(rng, created, 60),
            "tags": tags,
        }
    if collection == "risks":
        vectors = rng.sample(RISK_VECTORS, rng.randint(0, len(RISK_VECTORS)))
        return {
            "risk_vector_score_values": [
                {"id": vid, "name": name, "value": rng.randint(1, 5)}
                for vid, name in sorted(vectors)
            ]
        }
    if collection == "programs":
        return {
            "editors": t.people(rng),
            "managers": t.people(rng, 2),
            "readers": t.people(rng),
            "primary_contact": t.person(rng),
            "secondary_contact": _maybe(rng, t.person(rng), 0.4),
            "reference_url": _url(rng, "wiki"),
            "url": _url(rng, "grc"),
            "notes": _maybe(rng, "Owned by the compliance team.", 0.5),
            "tags": tags,
            "effective_date": start,
            "stop_date": _maybe(rng, _day(rng, created, 365), 0.6),
        }
    if collection == "vendors":
        return {
            "owners": t.people(rng),
            "contact": t.person(rng),
            "risk_rating": _maybe(rng, rng.choice(["Low", "Medium", "High", "Critical"])),
            "secondary_contact": _maybe(rng, t.person(rng), 0.4),
            "start_date": start,
            "end_date": end,
            "reference_url": _url(rng, "contracts"),
            "url": _url(rng, "vendor"),
        }
    if collection == "systems":
        return {"owners": t.people(rng), "url": _url(rng, "system")}
    return {}


def _person_fields(t: _Tenant, person_id: int) -> Record:
    first, last = t.person_name(person_id)
    return {
        "name": f"{first} {last}",
        "email": f"{_ascii(first)}.{_ascii(last)}{person_id}@example.com",
        "first_name": first,
        "last_name": last,
    }


def _new_object(
    t: _Tenant, collection: str, object_id: int, number: int, created: datetime, updated: datetime
) -> Record:
    rng = random.Random(f"{t.seed}/{collection}/{object_id}")
    object_type, prefix, _ = COLLECTIONS[collection]
    record: Record = {
        "id": object_id,
        "type": object_type,
        "code": f"{prefix}-{number}",
        "title": t.title(collection, object_id),
        "description": _maybe(rng, f"{object_type} {number}: {rng.choice(TOPICS).lower()}.", 0.1),
        "status": rng.choice(STATUSES.get(collection, DEFAULT_STATUSES)),
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "custom_attributes": {
            str(a.id): {"id": a.id, "title": a.title, "value": a.value(rng)}
            for a in t.attributes[collection]
        },
        "mapped": {key: t.refs(rng, kind) for key, kind in MAPPED.get(collection, {}).items()},
    }
    if collection == "people":
        record.update(_person_fields(t, object_id))
    record.update(_extras(t, collection, rng, created.date()))
    record["links"] = {"self": {"href": f"{BASE_PATH}/{collection}/{object_id}"}}
    return record


def _updated(t: _Tenant, collection: str, old: Record, epoch: int, window: _Window) -> Record:
    """A copy of ``old`` with one to three visible changes and a later ``updated_at``."""
    rng = random.Random(f"{t.seed}/{collection}/{old['id']}/epoch/{epoch}")
    new = copy.deepcopy(old)
    changes = rng.sample(["status", "title", "attribute"], rng.randint(1, 3))
    if collection == "people" and "title" in changes:  # a person's title is their name
        changes.remove("title")
    if "status" in changes or not changes:
        statuses = STATUSES.get(collection, DEFAULT_STATUSES)
        new["status"] = rng.choice([s for s in statuses if s != old["status"]])
    if "title" in changes:
        new["title"] = f"{t.title(collection, old['id'])} (rev {epoch})"
    if "attribute" in changes:
        attribute = rng.choice(t.attributes[collection])
        entry = new["custom_attributes"][str(attribute.id)]
        value = entry["value"]
        while value == entry["value"]:
            value = attribute.value(rng)
        entry["value"] = value
    new["updated_at"] = _iso(_stamp(rng, window.start, window))
    return new


@functools.lru_cache(maxsize=4)
def _tenant(seed: int, scale: int) -> _Tenant:
    return _Tenant(seed, scale)


def _append_new(
    t: _Tenant,
    collection: str,
    objects: list[Record],
    new_ids: list[int],
    epoch: int,
    first_number: int,
) -> None:
    """Create objects for ``new_ids``, numbered (``code``) from ``first_number``; the last
    tenth (at least 2) arrive in one bulk import at the epoch's last second, so the
    epoch's maximum ``updated_at`` is always shared."""
    window = _window(epoch)
    rng = random.Random(f"{t.seed}/{collection}/epoch/{epoch}/new")
    bulk_import = len(new_ids) - max(2, len(new_ids) // 10)
    for position, object_id in enumerate(new_ids):
        if position >= bulk_import:
            created = updated = window.bulk[1]
        else:
            created = _between(rng, window.start, window.created_end)
            updated = _stamp(rng, created, window)
        number = first_number + position
        objects.append(_new_object(t, collection, object_id, number, created, updated))


def _code_number(obj: Record) -> int:
    """The creation number in an object's ``code`` (``AUDIT-12`` → 12)."""
    return int(obj["code"].rpartition("-")[2])


def _deleted(t: _Tenant, collection: str, epoch: int, count: int, updated: set[int]) -> set[int]:
    """Positions of the objects ``epoch`` deletes, among the ``count`` it starts from."""
    if epoch < DELETES_FROM_EPOCH:
        return set()
    rng = random.Random(f"{t.seed}/{collection}/epoch/{epoch}/deletes")
    kept = [index for index in range(count) if index not in updated]
    return set(rng.sample(kept, round(count * DELETE_FRACTION)))


@functools.lru_cache(maxsize=16)
def generate(params: DataParams) -> Dataset:
    """Every collection's objects at ``params`` (cached: do not mutate the result)."""
    t = _tenant(params.seed, params.scale)
    dataset: Dataset = {}
    if params.epoch == 0:
        for collection, ids in t.base_ids.items():
            dataset[collection] = []
            _append_new(t, collection, dataset[collection], ids, 0, first_number=1)
        return dataset

    window = _window(params.epoch)
    previous = generate(replace(params, epoch=params.epoch - 1))
    for collection, old_objects in previous.items():
        rng = random.Random(f"{t.seed}/{collection}/epoch/{params.epoch}")
        count = len(old_objects)
        chosen = set(rng.sample(range(count), max(1, round(count * UPDATE_FRACTION))))
        deleted = _deleted(t, collection, params.epoch, count, chosen)
        objects = [
            _updated(t, collection, old, params.epoch, window) if index in chosen else old
            for index, old in enumerate(old_objects)
            if index not in deleted
        ]
        # Every epoch appends new objects last, so the previous epoch's last object has
        # the highest id and code number ever given, even when this epoch deletes it.
        new_ids, object_id = [], old_objects[-1]["id"]
        for _ in range(max(1, round(count * NEW_FRACTION))):
            object_id += rng.choice(ID_STEPS)
            new_ids.append(object_id)
        first_number = _code_number(old_objects[-1]) + 1
        _append_new(t, collection, objects, new_ids, params.epoch, first_number)
        dataset[collection] = objects
    return dataset


def _cursor(collection: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{collection}:{last_id}".encode()).decode().rstrip("=")


def _after_id(collection: str, cursor: str) -> int | None:
    """The last id of the previous page, or None if the cursor is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, _, last_id = text.partition(":")
    if name != collection or not last_id.isdigit():
        return None
    return int(last_id)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"error": {"code": status, "message": message}}, headers)


@dataclass(frozen=True)
class _Snapshot:
    """One epoch as served: ids and ready-encoded objects per collection, and the clock."""

    ids: dict[str, list[int]]
    encoded: dict[str, list[bytes]]
    date: str
    """The HTTP ``Date`` of every answer at this epoch."""


def _snapshot(params: DataParams) -> _Snapshot:
    dataset = generate(params)
    # Objects are encoded once; a page is then a join of ready-made bytes.
    return _Snapshot(
        ids={name: [obj["id"] for obj in objs] for name, objs in dataset.items()},
        encoded={
            name: [
                json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() for obj in objs
            ]
            for name, objs in dataset.items()
        },
        date=format_datetime(clock(params.epoch), usegmt=True),
    )


class ZenGRCApp:
    """Serves one epoch with the v2 list envelope, cursor paging and Basic auth; with
    ``move_after`` it moves on to the next epoch after that many answers."""

    base_path = BASE_PATH

    def __init__(
        self,
        params: DataParams,
        page_size: int = DEFAULT_PAGE_SIZE,
        move_after: int | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page size must be >= 1, got {page_size}")
        self.page_size = page_size
        self.credentials = dict(CREDENTIALS)
        self._expected_auth = (
            "Basic "
            + base64.b64encode(
                f"{CREDENTIALS['username']}:{CREDENTIALS['password']}".encode()
            ).decode()
        )
        self._current = _snapshot(params)
        self._next = (
            _snapshot(replace(params, epoch=params.epoch + 1)) if move_after is not None else None
        )
        self._move_after = move_after
        self._answered = 0
        self._lock = threading.Lock()
        self.moved = False
        """Whether the data moved on to the next epoch (``move_after``)."""
        self._routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(rf"{BASE_PATH}/([a-z_]+)"), self._list),
            (re.compile(rf"{BASE_PATH}/([a-z_]+)/(\d+)"), self._one),
        ]

    def _take_snapshot(self) -> _Snapshot:
        """The epoch this request is answered from (counting it towards ``move_after``)."""
        with self._lock:
            if self._next is not None and self._answered == self._move_after:
                self._current, self._next, self.moved = self._next, None, True
            self._answered += 1
            return self._current

    def handle(self, request: Request) -> Response:
        served = self._take_snapshot()
        response = self._answer(served, request)
        return replace(response, headers={**response.headers, "Date": served.date})

    def _answer(self, served: _Snapshot, request: Request) -> Response:
        given = request.headers.get("authorization") or ""
        if not hmac.compare_digest(given.encode(), self._expected_auth.encode()):
            return _error(
                401, "invalid or missing credentials", {"WWW-Authenticate": 'Basic realm="ZenGRC"'}
            )
        for pattern, view in self._routes:
            match = pattern.fullmatch(request.path)
            if match and match.group(1) in served.ids:
                if request.method != "GET":
                    return _error(405, f"method {request.method} not allowed", {"Allow": "GET"})
                return view(served, request, *match.groups())
        return _error(404, f"no such resource: {request.path}")

    def _list(self, served: _Snapshot, request: Request, collection: str) -> Response:
        ids, encoded = served.ids[collection], served.encoded[collection]
        start = 0
        if "cursor" in request.query:
            after = _after_id(collection, request.query["cursor"][0])
            if after is None:
                return _error(400, "invalid cursor")
            start = bisect.bisect_right(ids, after)
        end = start + self.page_size
        next_link = b"null"
        if end < len(ids):
            href = f"{BASE_PATH}/{collection}?cursor={_cursor(collection, ids[end - 1])}"
            next_link = json.dumps({"href": href}).encode()
        body = (
            b'{"data":[' + b",".join(encoded[start:end]) + b'],"links":{"next":' + next_link + b"}}"
        )
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _one(
        self, served: _Snapshot, request: Request, collection: str, object_id: str
    ) -> Response:
        ids = served.ids[collection]
        index = bisect.bisect_left(ids, int(object_id))
        if index == len(ids) or ids[index] != int(object_id):
            return _error(404, f"no {collection} object with id {object_id}")
        body = b'{"data":' + served.encoded[collection][index] + b"}"
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


def _make_app(
    params: DataParams, page_size: int | None, move_after: int | None = None
) -> ZenGRCApp:
    return ZenGRCApp(params, page_size or DEFAULT_PAGE_SIZE, move_after)


VENDOR = Vendor(
    name="zengrc",
    summary="ZenGRC API v2 (HTTP Basic, JSON, cursor paging)",
    key_properties=dict.fromkeys(COLLECTIONS, ("id",)),
    generate=generate,
    make_app=_make_app,
    options=frozenset({"move_after"}),
)
