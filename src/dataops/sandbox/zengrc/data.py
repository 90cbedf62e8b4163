"""The ZenGRC data: every collection's objects at (seed, scale, epoch).

11 collections, about 120 objects each at scale 1 (the counts in ``COLLECTIONS`` times
scale), ids ascending with occasional gaps. Epoch 0 is the base snapshot (timestamps in
2023-2024); each later epoch ``e`` takes epoch ``e - 1`` and, per collection, updates
about 10% of the objects (status, title and/or one custom attribute value, plus a later
``updated_at``) and appends about 10% new objects with higher ids. Epoch ``e`` changes
happen within month ``e`` of 2025 (then 2026, …), so they are strictly later than
everything before. Per collection and epoch, about a quarter of the touched objects
share one of two "bulk edit" seconds, the later of which is the epoch's maximum
``updated_at``. From epoch 2 on each epoch deletes about 3% of each collection's
objects; new ids and codes continue after the highest ever given, so a deleted one
never returns (docs/vendors/zengrc.md).
"""

from __future__ import annotations

import copy
import functools
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dataops.sandbox.vendor import DataParams, Dataset, Record
from dataops.sandbox.zengrc.spec import (
    BASE_PATH,
    CATALOG,
    COLLECTION_OF_TYPE,
    COLLECTIONS,
    DEFAULT_STATUSES,
    MAPPED,
    STATUSES,
)

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
ID_STEPS = [1, 1, 1, 1, 2, 3, 7]
UPDATE_FRACTION = 0.10
NEW_FRACTION = 0.10
BULK_FRACTION = 0.25
DELETES_FROM_EPOCH, DELETE_FRACTION = 2, 0.03
"""From this epoch on, each epoch deletes this share of each collection's objects."""


@dataclass(frozen=True)
class _CustomAttribute:
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


class Tenant:
    """Seed-derived facts shared by all epochs: attribute ids, base ids, ref targets."""

    def __init__(self, seed: int, scale: int) -> None:
        self.seed = seed
        self._names: dict[int, tuple[str, str]] = {}
        self._titles: dict[tuple[str, int], str] = {}
        rng = random.Random(f"{seed}/tenant")
        attribute_ids = iter(rng.sample(range(10, 10_000), 4 * len(COLLECTIONS)))
        self.attributes: dict[str, list[_CustomAttribute]] = {}
        self.base_ids: dict[str, list[int]] = {}
        for collection, (_, _, count) in COLLECTIONS.items():
            templates = rng.sample(ATTRIBUTE_TEMPLATES, rng.randint(2, 4))
            attributes = [
                _CustomAttribute(next(attribute_ids), title, kind, tuple(choices))
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


def _extras(tenant: Tenant, collection: str, rng: random.Random, created: date) -> Record:
    """The collection specific fields of a new object (spec table; people/systems: ours)."""
    start = _day(rng, created, 30)
    end = _maybe(rng, _day(rng, date.fromisoformat(start), 180))
    tags = sorted(set(rng.sample(TAGS, rng.randint(0, 3))))
    if collection == "audits":
        return {
            "audit_managers": tenant.people(rng),
            "program": tenant.ref(rng, "Program"),
            "start_date": start,
            "end_date": end,
            "report_period_start_date": _day(rng, created, 10),
            "report_period_end_date": _maybe(rng, _day(rng, created, 120)),
            "sync_external_attachments": rng.random() < 0.5,
            "sync_external_comments": rng.random() < 0.5,
        }
    if collection == "assessments":
        return {
            "assessors": tenant.people(rng),
            "conclusion": _maybe(
                rng, rng.choice(["Effective", "Ineffective", "Needs Improvement"]), 0.3
            ),
            "control": tenant.ref(rng, "Control"),
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
            "assignees": tenant.people(rng),
            "requesters": tenant.people(rng, 2),
            "audit": tenant.ref(rng, "Audit", with_type=False),
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
            "editors": tenant.people(rng),
            "managers": tenant.people(rng, 2),
            "readers": tenant.people(rng),
            "primary_contact": tenant.person(rng),
            "secondary_contact": _maybe(rng, tenant.person(rng), 0.4),
            "reference_url": _url(rng, "wiki"),
            "url": _url(rng, "grc"),
            "notes": _maybe(rng, "Owned by the compliance team.", 0.5),
            "tags": tags,
            "effective_date": start,
            "stop_date": _maybe(rng, _day(rng, created, 365), 0.6),
        }
    if collection == "vendors":
        return {
            "owners": tenant.people(rng),
            "contact": tenant.person(rng),
            "risk_rating": _maybe(rng, rng.choice(["Low", "Medium", "High", "Critical"])),
            "secondary_contact": _maybe(rng, tenant.person(rng), 0.4),
            "start_date": start,
            "end_date": end,
            "reference_url": _url(rng, "contracts"),
            "url": _url(rng, "vendor"),
        }
    if collection == "systems":
        return {"owners": tenant.people(rng), "url": _url(rng, "system")}
    return {}


def _person_fields(tenant: Tenant, person_id: int) -> Record:
    first, last = tenant.person_name(person_id)
    return {
        "name": f"{first} {last}",
        "email": f"{_ascii(first)}.{_ascii(last)}{person_id}@example.com",
        "first_name": first,
        "last_name": last,
    }


def _new_object(
    tenant: Tenant,
    collection: str,
    object_id: int,
    number: int,
    created: datetime,
    updated: datetime,
) -> Record:
    rng = random.Random(f"{tenant.seed}/{collection}/{object_id}")
    object_type, prefix, _ = COLLECTIONS[collection]
    record: Record = {
        "id": object_id,
        "type": object_type,
        "code": f"{prefix}-{number}",
        "title": tenant.title(collection, object_id),
        "description": _maybe(rng, f"{object_type} {number}: {rng.choice(TOPICS).lower()}.", 0.1),
        "status": rng.choice(STATUSES.get(collection, DEFAULT_STATUSES)),
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "custom_attributes": {
            str(a.id): {"id": a.id, "title": a.title, "value": a.value(rng)}
            for a in tenant.attributes[collection]
        },
        "mapped": {key: tenant.refs(rng, kind) for key, kind in MAPPED.get(collection, {}).items()},
    }
    if collection == "people":
        record.update(_person_fields(tenant, object_id))
    record.update(_extras(tenant, collection, rng, created.date()))
    record["links"] = {"self": {"href": f"{BASE_PATH}/{collection}/{object_id}"}}
    return record


def _updated(tenant: Tenant, collection: str, old: Record, epoch: int, window: _Window) -> Record:
    """A copy of ``old`` with one to three visible changes and a later ``updated_at``."""
    rng = random.Random(f"{tenant.seed}/{collection}/{old['id']}/epoch/{epoch}")
    new = copy.deepcopy(old)
    changes = rng.sample(["status", "title", "attribute"], rng.randint(1, 3))
    if collection == "people" and "title" in changes:  # a person's title is their name
        changes.remove("title")
    if "status" in changes or not changes:
        statuses = STATUSES.get(collection, DEFAULT_STATUSES)
        new["status"] = rng.choice([s for s in statuses if s != old["status"]])
    if "title" in changes:
        new["title"] = f"{tenant.title(collection, old['id'])} (rev {epoch})"
    if "attribute" in changes:
        attribute = rng.choice(tenant.attributes[collection])
        entry = new["custom_attributes"][str(attribute.id)]
        value = entry["value"]
        while value == entry["value"]:
            value = attribute.value(rng)
        entry["value"] = value
    new["updated_at"] = _iso(_stamp(rng, window.start, window))
    return new


@functools.lru_cache(maxsize=4)
def _tenant_for(seed: int, scale: int) -> Tenant:
    return Tenant(seed, scale)


def _append_new(
    tenant: Tenant,
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
    rng = random.Random(f"{tenant.seed}/{collection}/epoch/{epoch}/new")
    bulk_import = len(new_ids) - max(2, len(new_ids) // 10)
    for position, object_id in enumerate(new_ids):
        if position >= bulk_import:
            created = updated = window.bulk[1]
        else:
            created = _between(rng, window.start, window.created_end)
            updated = _stamp(rng, created, window)
        number = first_number + position
        objects.append(_new_object(tenant, collection, object_id, number, created, updated))


def _code_number(obj: Record) -> int:
    """The creation number in an object's ``code`` (``AUDIT-12`` → 12)."""
    return int(obj["code"].rpartition("-")[2])


def _deleted(
    tenant: Tenant, collection: str, epoch: int, count: int, updated: set[int]
) -> set[int]:
    """Positions of the objects ``epoch`` deletes, among the ``count`` it starts from."""
    if epoch < DELETES_FROM_EPOCH:
        return set()
    rng = random.Random(f"{tenant.seed}/{collection}/epoch/{epoch}/deletes")
    kept = [index for index in range(count) if index not in updated]
    return set(rng.sample(kept, round(count * DELETE_FRACTION)))


@functools.lru_cache(maxsize=16)
def generate(params: DataParams) -> Dataset:
    """Every collection's objects at ``params`` (cached: do not mutate the result)."""
    tenant = _tenant_for(params.seed, params.scale)
    dataset: Dataset = {}
    if params.epoch == 0:
        for collection, ids in tenant.base_ids.items():
            dataset[collection] = []
            _append_new(tenant, collection, dataset[collection], ids, 0, first_number=1)
        return dataset

    window = _window(params.epoch)
    previous = generate(replace(params, epoch=params.epoch - 1))
    for collection, old_objects in previous.items():
        rng = random.Random(f"{tenant.seed}/{collection}/epoch/{params.epoch}")
        count = len(old_objects)
        chosen = set(rng.sample(range(count), max(1, round(count * UPDATE_FRACTION))))
        deleted = _deleted(tenant, collection, params.epoch, count, chosen)
        objects = [
            _updated(tenant, collection, old, params.epoch, window) if index in chosen else old
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
        _append_new(tenant, collection, objects, new_ids, params.epoch, first_number)
        dataset[collection] = objects
    return dataset
