"""ZenGRC API v2 as the sandbox serves it: paths, credentials, collections and the
references between them (docs/vendors/zengrc.md)."""

from __future__ import annotations

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

COLLECTION_OF_TYPE = {spec[0]: collection for collection, spec in COLLECTIONS.items()}
KEY_PROPERTIES = dict.fromkeys(COLLECTIONS, ("id",))
