"""The fixed vocabulary of the emulated organisation: queues, statuses, people, fields.

Statuses are global objects in Tracker (one key, one display), so every key
here is unique across queues. `STATUS_BLOCKS` says which metric block each
status belongs to (see `shared/spec/metrics.md`), so a test or a sample
status file can be derived from the same source as the data.
"""

from __future__ import annotations

from typing import Any

Status = dict[str, str]


def _status(sid: str, key: str, display: str) -> Status:
    return {"id": sid, "key": key, "display": display}


# --- product queue CPO: the workflow the metric spec walks -------------------
CPO_OPEN = _status("1", "open", "Открыт")
CPO_DISCOVERY_BACKLOG = _status("101", "discoveryBacklog", "Discovery backlog")
CPO_DISCOVERY_WORK = _status("102", "discoveryInProgress", "В работе")
CPO_READY_FOR_DEV = _status("103", "readyForDevelopment", "Готова к разработке")
CPO_IN_DEV = _status("104", "mpInProgress", "МП / В работе")
CPO_EXTERNAL_TEST = _status("105", "mpExternalTest", "МП / Внешний тест")
CPO_READY_FOR_RELEASE = _status("106", "readyForRelease", "Готово к релизу")
CPO_DONE = _status("3", "closed", "Выполнено")
CPO_DONE_WITH_IT = _status("107", "closedWithIt", "Выполнено с ИТ")
CANCELLED = _status("108", "cancelled", "Отменено")
PAUSED = _status("109", "paused", "Приостановлено")

CPO_PATH: tuple[Status, ...] = (
    CPO_OPEN,
    CPO_DISCOVERY_BACKLOG,
    CPO_DISCOVERY_WORK,
    CPO_READY_FOR_DEV,
    CPO_IN_DEV,
    CPO_EXTERNAL_TEST,
    CPO_READY_FOR_RELEASE,
)
CPO_DONE_STATUSES = (CPO_DONE, CPO_DONE_WITH_IT)

# --- implementation queue FULLSTACK -------------------------------------------
FS_OPEN = _status("201", "new", "Open")
FS_IN_PROGRESS = _status("2", "inProgress", "In Progress")
FS_REVIEW = _status("202", "inReview", "Review")
FS_TESTING = _status("203", "testing", "Testing")
FS_EXTERNAL_TEST = _status("204", "externalTest", "Внешний тест")
FS_APPROVAL = _status("205", "approval", "Approval")
FS_REGRESSION = _status("206", "regression", "Regression")
FS_DONE = _status("207", "done", "Done")

FS_PATH: tuple[Status, ...] = (
    FS_OPEN,
    FS_IN_PROGRESS,
    FS_REVIEW,
    FS_TESTING,
    FS_EXTERNAL_TEST,
    FS_APPROVAL,
    FS_REGRESSION,
)

STATUS_BLOCKS: dict[str, str] = {
    CPO_OPEN["display"]: "backlog",
    CPO_DISCOVERY_BACKLOG["display"]: "discovery",
    CPO_DISCOVERY_WORK["display"]: "discovery",
    CPO_READY_FOR_DEV["display"]: "delivery",
    CPO_IN_DEV["display"]: "delivery",
    CPO_EXTERNAL_TEST["display"]: "delivery",
    CPO_READY_FOR_RELEASE["display"]: "delivery",
    CPO_DONE["display"]: "done",
    CPO_DONE_WITH_IT["display"]: "done",
    CANCELLED["display"]: "cancelled",
    PAUSED["display"]: "pause",
    FS_OPEN["display"]: "backlog",
    FS_IN_PROGRESS["display"]: "delivery",
    FS_REVIEW["display"]: "delivery",
    FS_TESTING["display"]: "delivery",
    FS_EXTERNAL_TEST["display"]: "delivery",
    FS_APPROVAL["display"]: "delivery",
    FS_REGRESSION["display"]: "delivery",
    FS_DONE["display"]: "done",
}

ALL_STATUSES: dict[str, Status] = {
    s["key"]: s
    for s in (
        *CPO_PATH,
        *CPO_DONE_STATUSES,
        CANCELLED,
        PAUSED,
        *FS_PATH,
        FS_DONE,
    )
}

# --- queues ---------------------------------------------------------------
PRODUCT_QUEUE = "CPO"
IMPLEMENTATION_QUEUE = "FULLSTACK"
QUEUES: dict[str, dict[str, str]] = {
    "CPO": {"id": "1", "key": "CPO", "display": "Product"},
    "FULLSTACK": {"id": "2", "key": "FULLSTACK", "display": "Fullstack"},
    "PROD": {"id": "3", "key": "PROD", "display": "Product (old)"},
    "DEV": {"id": "4", "key": "DEV", "display": "Development (old)"},
}
# Where moved issues came from.
MOVED_FROM = {"CPO": "PROD", "FULLSTACK": "DEV"}

# Queue-local custom fields are prefixed with the queue's hex id.
QUEUE_FIELD_PREFIX = {
    "CPO": "6361307d94f52e42ae308615",
    "FULLSTACK": "63613d7c34a5e96bd42c8b0e",
    "PROD": "6361307d94f52e42ae308615",
    "DEV": "63613d7c34a5e96bd42c8b0e",
}


def team_field(queue: str) -> str:
    return f"{QUEUE_FIELD_PREFIX[queue]}--team"


def prodteam_field(queue: str) -> str:
    return f"{QUEUE_FIELD_PREFIX[queue]}--prodteam"


BUSINESS_CLIENT_FIELD = "businessClient"

# --- issue types and link types ----------------------------------------------
TASK_TYPE = {"id": "2", "key": "task", "display": "Задача"}
BUG_TYPE = {"id": "1", "key": "bug", "display": "Ошибка"}
EPIC_TYPE = {"id": "3", "key": "epic", "display": "Эпик"}

RELATES = {"id": "relates", "inward": "relates", "outward": "relates"}
SUBTASK = {"id": "subtask", "inward": "Подзадача", "outward": "Родительская задача"}
EPIC_LINK = {"id": "epic", "inward": "Эпик", "outward": "Задача эпика"}

# --- people and teams (neutral names only) -------------------------------------
N_AUTHORS = 40
AUTHORS: tuple[dict[str, str], ...] = tuple(
    {"id": str(1130000000000000 + i), "display": f"Author {i}"} for i in range(1, N_AUTHORS + 1)
)
ROBOT = {"id": "1120000000000001", "display": "Robot"}
TEAMS = ("Team Alpha", "Team Beta", "Team Gamma", "Team Delta", "Team Epsilon", "Team Zeta")
PRODUCT_TEAMS = ("Product North", "Product South", "Product East", "Product West")
BUSINESS_CLIENTS = ("Client A", "Client B", "Client C")
TAGS = ("backend", "frontend", "mobile", "infra", "urgent", "tech-debt", "ux")

FIELD_DISPLAY: dict[str, str] = {
    "status": "Статус",
    "statusStartTime": "Начало текущего статуса",
    "resolution": "Резолюция",
    "assignee": "Исполнитель",
    "summary": "Задача",
    "tags": "Теги",
    "followers": "Наблюдатели",
    "description": "Описание",
    "key": "Ключ",
    "queue": "Очередь",
    "team": "Команда",
    "prodteam": "Продуктовая команда",
}


def field_ref(field_id: str) -> dict[str, Any]:
    """`{id, display}` of a changelog field; queue-local ids display by their suffix."""
    suffix = field_id.rsplit("--", 1)[-1]
    return {"id": field_id, "display": FIELD_DISPLAY.get(suffix, suffix)}
