"""Ten product tasks (and the implementation tasks linked to them), checked by hand.

Configuration: the bundled default (statuses, roles, periods Q1 2025 =
2024-12-30..2025-03-30, Q2 2025 = 2025-03-31..2025-06-29, Author 1/2 -> Team
Alpha (Lead A), Author 3/4 -> Team Beta (Lead B), Author 5 -> Team Gamma (Lead C))
with low thresholds so that some values cross them. as_of = 2025-04-01 00:00 UTC
(a Tuesday) unless a test says otherwise. All dates are 2025, 00:00 UTC.

CPO-1  Team Alpha, finished 01-25, pauses before and after ready-for-development:
       Открыт 01-01, Discovery backlog 01-03, Приостановлено 01-04, Discovery backlog
       01-06, Готова к разработке 01-08, МП / В работе 01-10, Приостановлено 01-13,
       МП / В работе 01-15, МП / Внешний тест 01-20, Выполнено 01-25.
       pause 2+2 = 4; TTM 24-4 = 20; TTD 7-2 = 5 (ttd_pause 2); Tail 01-20..01-25 = 5;
       DevLT 01-10..01-20 = 10; discovery backlog 1+2 = 3; ready for dev 2;
       work started 01-08.
CPO-2  Team Beta, reopened: Открыт 01-02, Готова к разработке 01-05, МП / В работе
       01-07, Выполнено 01-20, МП / В работе 02-01 (open). Unfinished: TTM to as_of
       89; TTD 3; no Tail; DevLT 01-07..Выполнено 01-20 (first valid status after
       the external test in the status file) = 13.
CPO-3  Team Alpha, accidental done: ... МП / В работе 02-12, Выполнено 02-20 10:00,
       МП / В работе 02-20 10:02, МП / Внешний тест 03-01, Выполнено 03-10. The
       two-minute done is filtered: finished 03-10, TTM 37, TTD 9, Tail 9, DevLT 17.
CPO-4  Team Gamma, moved from PROD-7 (alias), pause inside the external test:
       finished 02-20 (Выполнено с ИТ), pause 3, TTM 41-3 = 38, TTD 10, Tail 9
       (last external test 02-11..02-20), DevLT 01-22..02-11 = 20. Linked
       implementation tasks: FULLSTACK-1 (returns Testing 2), FULLSTACK-2 (Testing 1,
       Внешний тест 1; its link names CPO-4 by the old key PROD-7 and an unknown id),
       FULLSTACK-3 (sub-task of FULLSTACK-1 and linked directly too: counted once;
       Testing 1 across a one-minute Review, raw history). Not counted: FULLSTACK-4
       (`depends` link), OTHER-1 (other queue). Returns: testing 4, external 1, total 5.
CPO-5  Team Beta, open in external test since 03-20: Tail to as_of 12, DevLT 15,
       TTM to as_of 31, TTD 1.
CPO-6  Team Alpha, cancelled 01-10: in no details row.
CPO-7  Team Alpha, done on 04-10, after as_of: unfinished at 04-01 (TTM 22, DevLT of
       the open in-development stay 17), finished at 05-01 (period Q2 2025, TTM 31,
       DevLT 26).
CPO-8  Team Beta, still in discovery (В работе since 03-25): not in details; aging 7.
CPO-9  created 04-05, after as_of: invisible.
CPO-10 deleted: invisible.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from radiator_assets.metrics.config import MetricsConfig, Thresholds
from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.reports.seed import add_task, relates

AS_OF = datetime(2025, 4, 1, tzinfo=UTC)
LATER = datetime(2025, 5, 1, tzinfo=UTC)

OPEN = "Открыт"
BACKLOG = "Discovery backlog"
DISCOVERY_WORK = "В работе"
RFD = "Готова к разработке"
DEV = "МП / В работе"
EXT = "МП / Внешний тест"
DONE = "Выполнено"
DONE_IT = "Выполнено с ИТ"
CANCELLED = "Отменено"
PAUSE = "Приостановлено"


def d(text: str) -> datetime:
    """`"01-03"` -> 2025-01-03 00:00 UTC; `"02-20 10:02"` -> with a time."""
    return datetime.fromisoformat(f"2025-{text}").replace(tzinfo=UTC)


def config() -> MetricsConfig:
    return MetricsConfig.default().model_copy(
        update={"thresholds": Thresholds(ttm=30, ttd=8, tail=6, devlt=15)}
    )


def seed(engine: sa.Engine, *, until: datetime | None = None) -> None:
    """Seed the ten tasks; with `until`, only what was known at that instant (tasks
    created by then, status changes made by then), as a sync on that day would have."""

    def task(key: str, created: str, changes: list[tuple[str, str]], **kw: object) -> None:
        moments = [(d(when), status) for when, status in changes]
        if until is not None:
            if d(created) > until:
                return
            moments = [(m, s) for m, s in moments if m <= until]
        add_task(engine, key, d(created), moments, initial=OPEN, **kw)  # type: ignore[arg-type]

    task(
        "CPO-1",
        "01-01",
        [
            ("01-03", BACKLOG),
            ("01-04", PAUSE),
            ("01-06", BACKLOG),
            ("01-08", RFD),
            ("01-10", DEV),
            ("01-13", PAUSE),
            ("01-15", DEV),
            ("01-20", EXT),
            ("01-25", DONE),
        ],
        author="Author 1",
    )
    task(
        "CPO-2",
        "01-02",
        [("01-05", RFD), ("01-07", DEV), ("01-20", DONE), ("02-01", DEV)],
        author="Author 3",
    )
    task(
        "CPO-3",
        "02-01",
        [
            ("02-03", BACKLOG),
            ("02-10", RFD),
            ("02-12", DEV),
            ("02-20 10:00", DONE),
            ("02-20 10:02", DEV),
            ("03-01", EXT),
            ("03-10", DONE),
        ],
        author="Author 2",
    )
    task(
        "CPO-4",
        "01-10",
        [
            ("01-12", BACKLOG),
            ("01-20", RFD),
            ("01-22", DEV),
            ("02-05", EXT),
            ("02-08", PAUSE),
            ("02-11", EXT),
            ("02-20", DONE_IT),
        ],
        author="Author 5",
        aliases=["PROD-7"],
        links=[
            relates("FULLSTACK-1"),
            relates("FULLSTACK-3", direction="inward"),
            relates("OTHER-1"),
            {
                "type": {"id": "depends", "inward": "is dependent by", "outward": "depends on"},
                "direction": "outward",
                "object": {"id": "id-FULLSTACK-4", "key": "FULLSTACK-4"},
            },
        ],
    )
    task("CPO-5", "03-01", [("03-02", RFD), ("03-05", DEV), ("03-20", EXT)], author="Author 4")
    task("CPO-6", "01-05", [("01-06", BACKLOG), ("01-10", CANCELLED)], author="Author 1")
    task(
        "CPO-7",
        "03-10",
        [("03-12", RFD), ("03-15", DEV), ("04-10", DONE)],
        author="Author 2",
    )
    task(
        "CPO-8",
        "03-20",
        [("03-21", BACKLOG), ("03-25", DISCOVERY_WORK)],
        author="Author 3",
    )
    task("CPO-9", "04-05", [("04-06", RFD)], author="Author 1")
    task(
        "CPO-10",
        "01-01",
        [("01-02", RFD), ("01-03", DONE)],
        author="Author 1",
        deleted_at=d("03-01"),
    )

    # implementation queue
    def impl(key: str, created: str, changes: list[tuple[str, str]], **kw: object) -> None:
        moments = [(d(when), status) for when, status in changes]
        if until is not None:
            if d(created) > until:
                return
            moments = [(m, s) for m, s in moments if m <= until]
        add_task(engine, key, d(created), moments, initial="Open", **kw)  # type: ignore[arg-type]

    impl(
        "FULLSTACK-1",
        "01-22",
        [
            ("01-23", "In Progress"),
            ("01-25", "Testing"),
            ("01-26", "In Progress"),
            ("01-27", "Testing"),
            ("01-28", "Внешний тест"),
            ("01-29", "In Progress"),
            ("01-30", "Testing"),
            ("02-01", "Done"),
        ],
        links=[relates("CPO-4", direction="inward")],
        epic_key="FULLSTACK-100",
    )
    impl(
        "FULLSTACK-2",
        "01-22",
        [
            ("01-24", "Testing"),
            ("01-25", "Внешний тест"),
            ("01-26", "Testing"),
            ("01-27", "Внешний тест"),
            ("01-28", "Done"),
        ],
        links=[relates("PROD-7", tracker_id="unknown-id")],
        epic_key="FULLSTACK-100",
    )
    impl(
        "FULLSTACK-3",
        "01-23",
        [
            ("01-24", "Testing"),
            ("01-24 00:01", "Review"),
            ("01-24 00:02", "Testing"),
            ("01-25", "Done"),
        ],
        parent_key="FULLSTACK-1",
    )
    impl(
        "FULLSTACK-4",
        "01-22",
        [("01-23", "Testing"), ("01-24", "In Progress"), ("01-25", "Testing")],
    )
    impl(
        "OTHER-1",
        "01-22",
        [("01-23", "Testing"), ("01-24", "In Progress"), ("01-25", "Testing")],
        links=[relates("CPO-4")],
    )
    locked(build_history, engine)
