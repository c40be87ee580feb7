"""The report tables: what the `reports` asset group writes.

Each table is replaced as a whole by its report build, inside one transaction
(DELETE, then bulk COPY): a reader sees the old rows until the commit and the
new rows after it, never a half-built table. Day counts are whole calendar
days (see the metric spec); timestamps are `timestamptz` in UTC.

Column comments become the column descriptions in the Dagster UI. Each column
carries its Russian label (`info={"ru": ...}`, the header of `radiator export
--headers ru`); a column holding a fixed vocabulary names the Russian words for
its values too (`info={"ru_values": ...}`, one of the dictionaries below).
`info` lives in Python only: it is not part of the database schema.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from radiator_assets.storage.models import TZ, Base

NAME = sa.String(255)
BLOCK = sa.String(32)

# The Russian words for the values of the enum-like columns: the one place they live.
STATUS_BLOCKS_RU = {
    "backlog": "Бэклог",
    "discovery": "Дискавери",
    "delivery": "Деливери",
    "done": "Готово",
    "cancelled": "Отменено",
    "pause": "Пауза",
}
DIMENSIONS_RU = {"team": "Команда", "lead": "Лид", "author": "Автор"}
SCOPES_RU = {"task": "Задача", "epic": "Эпик"}


def _days(comment: str, *, ru: str, nullable: bool = True) -> Mapped[int | None]:
    return mapped_column(sa.Integer, nullable=nullable, comment=comment, info={"ru": ru})


class ReportTtmDetails(Base):
    """One row per product-queue task finished in a period, or unfinished, not cancelled and
    past discovery: entered the ready-for-development status by as_of (a task waiting in
    it is a row; see `radiator_assets.reports.details`)."""

    __tablename__ = "report_ttm_details"

    task_key: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, comment="task key", info={"ru": "Ключ задачи"}
    )
    summary: Mapped[str | None] = mapped_column(
        sa.Text, comment="task title", info={"ru": "Название"}
    )
    author: Mapped[str | None] = mapped_column(
        NAME, comment="task author (createdBy)", info={"ru": "Автор"}
    )
    team: Mapped[str] = mapped_column(
        NAME, comment="team of the author (config teams.authors)", info={"ru": "Команда"}
    )
    lead: Mapped[str] = mapped_column(
        NAME, comment="lead of the team (config teams.leads)", info={"ru": "Лид"}
    )
    period: Mapped[str | None] = mapped_column(
        NAME, comment="period of the completion date", info={"ru": "Квартал"}
    )
    ttd_period: Mapped[str | None] = mapped_column(
        NAME, comment="period of the first ready-for-development date", info={"ru": "Квартал TTD"}
    )
    ttm: Mapped[int | None] = _days(
        "TTM, days; unfinished tasks (finished = false): measured to as_of", ru="TTM"
    )
    pause: Mapped[int] = mapped_column(
        sa.Integer, comment="days in pause (pause_total)", info={"ru": "Пауза"}
    )
    tail: Mapped[int | None] = _days("last external test to done, minus pause, days", ru="Tail")
    devlt: Mapped[int | None] = _days("development lead time, calendar days", ru="DevLT")
    ttd: Mapped[int | None] = _days("time to delivery (to ready for development), days", ru="TTD")
    ttd_pause: Mapped[int | None] = _days(
        "pause before ready for development, days", ru="Пауза TTD"
    )
    discovery_backlog_days: Mapped[int] = mapped_column(
        sa.Integer,
        comment="days in the discovery-backlog status",
        info={"ru": "Discovery backlog (дни)"},
    )
    ready_for_dev_days: Mapped[int] = mapped_column(
        sa.Integer,
        comment="days in the ready-for-development status",
        info={"ru": "Готова к разработке (дни)"},
    )
    returns_testing: Mapped[int] = mapped_column(
        sa.Integer,
        comment="returns into the first testing-return status, linked tasks",
        info={"ru": "Возвраты с Testing"},
    )
    returns_external_test: Mapped[int] = mapped_column(
        sa.Integer,
        comment="returns into the second testing-return status, linked tasks",
        info={"ru": "Возвраты с Внешний тест"},
    )
    returns_total: Mapped[int] = mapped_column(
        sa.Integer,
        comment="returns into all testing-return statuses, linked tasks",
        info={"ru": "Всего возвратов"},
    )
    created: Mapped[datetime] = mapped_column(TZ, comment="task creation", info={"ru": "Создана"})
    work_started: Mapped[datetime | None] = mapped_column(
        TZ, comment="end of the last discovery-backlog stay", info={"ru": "Начало работы"}
    )
    completed: Mapped[datetime | None] = mapped_column(
        TZ, comment="completion date", info={"ru": "Дата завершения"}
    )
    went_through_development: Mapped[bool] = mapped_column(
        sa.Boolean,
        comment="had an in-development stay of at least min_stay",
        info={"ru": "Прошла разработку"},
    )
    finished: Mapped[bool] = mapped_column(
        sa.Boolean, comment="finished as of as_of", info={"ru": "Завершена"}
    )
    current_status: Mapped[str | None] = mapped_column(
        NAME, comment="status as of as_of", info={"ru": "Текущий статус"}
    )
    status_block: Mapped[str | None] = mapped_column(
        BLOCK,
        comment="block of current_status",
        info={"ru": "Блок статуса", "ru_values": STATUS_BLOCKS_RU},
    )

    __table_args__ = (sa.Index("ix_report_ttm_details_period_team", "period", "team"),)


class ReportTtmSummary(Base):
    """Finished tasks per (period, team) and per (period, lead): statistics of each metric."""

    __tablename__ = "report_ttm_summary"

    period: Mapped[str] = mapped_column(
        NAME, primary_key=True, comment="period name", info={"ru": "Квартал"}
    )
    dimension: Mapped[str] = mapped_column(
        sa.String(16),
        primary_key=True,
        comment="'team' or 'lead'",
        info={"ru": "Разрез", "ru_values": DIMENSIONS_RU},
    )
    name: Mapped[str] = mapped_column(
        NAME, primary_key=True, comment="the team or the lead", info={"ru": "Команда или лид"}
    )
    period_start: Mapped[date] = mapped_column(
        sa.Date, comment="first day of the period", info={"ru": "Начало квартала"}
    )
    tasks: Mapped[int] = mapped_column(
        sa.Integer, comment="finished tasks", info={"ru": "Завершено задач"}
    )
    ttm_count: Mapped[int] = mapped_column(sa.Integer, info={"ru": "TTM количество"})
    ttm_mean: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTM среднее"})
    ttm_median: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTM медиана"})
    ttm_p85: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTM 85 перцентиль"})
    ttm_max: Mapped[int | None] = mapped_column(sa.Integer, info={"ru": "TTM максимум"})
    ttm_over: Mapped[int] = mapped_column(
        sa.Integer, comment="TTM over thresholds.ttm", info={"ru": "TTM выше порога"}
    )
    ttd_count: Mapped[int] = mapped_column(sa.Integer, info={"ru": "TTD количество"})
    ttd_mean: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTD среднее"})
    ttd_median: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTD медиана"})
    ttd_p85: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "TTD 85 перцентиль"})
    ttd_max: Mapped[int | None] = mapped_column(sa.Integer, info={"ru": "TTD максимум"})
    ttd_over: Mapped[int] = mapped_column(
        sa.Integer, comment="TTD over thresholds.ttd", info={"ru": "TTD выше порога"}
    )
    tail_count: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Tail количество"})
    tail_mean: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Tail среднее"})
    tail_median: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Tail медиана"})
    tail_p85: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Tail 85 перцентиль"})
    tail_max: Mapped[int | None] = mapped_column(sa.Integer, info={"ru": "Tail максимум"})
    tail_over: Mapped[int] = mapped_column(
        sa.Integer, comment="Tail over thresholds.tail", info={"ru": "Tail выше порога"}
    )
    devlt_count: Mapped[int] = mapped_column(sa.Integer, info={"ru": "DevLT количество"})
    devlt_mean: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "DevLT среднее"})
    devlt_median: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "DevLT медиана"})
    devlt_p85: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "DevLT 85 перцентиль"})
    devlt_max: Mapped[int | None] = mapped_column(sa.Integer, info={"ru": "DevLT максимум"})
    devlt_over: Mapped[int] = mapped_column(
        sa.Integer, comment="DevLT over thresholds.devlt", info={"ru": "DevLT выше порога"}
    )
    pause_count: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Пауза количество"})
    pause_mean: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Пауза среднее"})
    pause_median: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Пауза медиана"})
    pause_p85: Mapped[float | None] = mapped_column(sa.Float, info={"ru": "Пауза 85 перцентиль"})
    pause_max: Mapped[int | None] = mapped_column(sa.Integer, info={"ru": "Пауза максимум"})


class ReportStatusActivity(Base):
    """Product-queue status changes in the last full week and the week before, per author/team."""

    __tablename__ = "report_status_activity"

    dimension: Mapped[str] = mapped_column(
        sa.String(16),
        primary_key=True,
        comment="'author' or 'team'",
        info={"ru": "Разрез", "ru_values": DIMENSIONS_RU},
    )
    name: Mapped[str] = mapped_column(
        NAME, primary_key=True, comment="the author or the team", info={"ru": "Автор или команда"}
    )
    week_start: Mapped[date] = mapped_column(
        sa.Date, comment="Monday of the last full week before as_of", info={"ru": "Начало недели"}
    )
    changes_last_week: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Смен статуса за неделю"}
    )
    tasks_last_week: Mapped[int] = mapped_column(
        sa.Integer, comment="distinct tasks changed", info={"ru": "Задач за неделю"}
    )
    changes_prev_week: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Смен статуса за предыдущую неделю"}
    )
    tasks_prev_week: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Задач за предыдущую неделю"}
    )
    changes_trend: Mapped[int] = mapped_column(
        sa.Integer, comment="last week minus the week before", info={"ru": "Динамика смен статуса"}
    )
    tasks_trend: Mapped[int] = mapped_column(
        sa.Integer, comment="last week minus the week before", info={"ru": "Динамика задач"}
    )
    open_discovery: Mapped[int] = mapped_column(
        sa.Integer,
        comment="tasks in a discovery-block status at as_of",
        info={"ru": "Открыто в Discovery"},
    )
    open_delivery: Mapped[int] = mapped_column(
        sa.Integer,
        comment="tasks in a delivery-block status at as_of",
        info={"ru": "Открыто в Delivery"},
    )


class ReportTimeInStatus(Base):
    """Days each task (any synced queue) spent in each status, raw history."""

    __tablename__ = "report_time_in_status"

    task_key: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, info={"ru": "Ключ задачи"}
    )
    status: Mapped[str] = mapped_column(NAME, primary_key=True, info={"ru": "Статус"})
    queue: Mapped[str | None] = mapped_column(sa.String(64), info={"ru": "Очередь"})
    status_block: Mapped[str] = mapped_column(
        BLOCK,
        comment="block of this status",
        info={"ru": "Блок статуса", "ru_values": STATUS_BLOCKS_RU},
    )
    days: Mapped[int] = mapped_column(
        sa.Integer, comment="days in this status, closed stays", info={"ru": "Дней в статусе"}
    )
    current_days: Mapped[int] = mapped_column(
        sa.Integer,
        comment="days of the open current stay up to as_of (0 unless current)",
        info={"ru": "Дней в текущем статусе"},
    )
    entries: Mapped[int] = mapped_column(
        sa.Integer, comment="times the task entered this status", info={"ru": "Входов в статус"}
    )
    is_current: Mapped[bool] = mapped_column(sa.Boolean, info={"ru": "Текущий"})
    current_status: Mapped[str] = mapped_column(
        NAME, comment="the task's status at as_of", info={"ru": "Текущий статус"}
    )
    last_change: Mapped[datetime] = mapped_column(
        TZ, comment="start of the current stay", info={"ru": "Последнее изменение"}
    )

    __table_args__ = (sa.Index("ix_report_time_in_status_status", "status"),)


class ReportTestingReturns(Base):
    """Returns into each workflow status per implementation-queue task and per epic."""

    __tablename__ = "report_testing_returns"

    scope: Mapped[str] = mapped_column(
        sa.String(16),
        primary_key=True,
        comment="'task' or 'epic'",
        info={"ru": "Уровень", "ru_values": SCOPES_RU},
    )
    key: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, comment="task or epic key", info={"ru": "Ключ"}
    )
    summary: Mapped[str | None] = mapped_column(sa.Text, info={"ru": "Название"})
    epic_key: Mapped[str | None] = mapped_column(sa.String(64), info={"ru": "Эпик"})
    tasks: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks counted (1 for a task)", info={"ru": "Задач"}
    )
    current_status: Mapped[str | None] = mapped_column(NAME, info={"ru": "Текущий статус"})
    returns_in_progress: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Возвраты в In Progress"}
    )
    returns_review: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты в Review"})
    returns_testing: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты в Testing"})
    returns_external_test: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Возвраты во Внешний тест"}
    )
    returns_approval: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты в Approval"})
    returns_regression: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Возвраты в Regression"}
    )
    returns_done: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты в Done"})
    returns_total: Mapped[int] = mapped_column(
        sa.Integer, comment="sum of the columns above", info={"ru": "Всего возвратов"}
    )


class ReportFlowWeekly(Base):
    """Per week (Monday, UTC) and team: arrivals, throughput, WIP, tasks per block at week end."""

    __tablename__ = "report_flow_weekly"

    week_start: Mapped[date] = mapped_column(
        sa.Date, primary_key=True, info={"ru": "Начало недели"}
    )
    team: Mapped[str] = mapped_column(NAME, primary_key=True, info={"ru": "Команда"})
    arrivals: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks created that week", info={"ru": "Поступило"}
    )
    throughput: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks completed that week", info={"ru": "Завершено"}
    )
    wip: Mapped[int] = mapped_column(
        sa.Integer,
        comment="tasks in discovery or delivery at week end",
        info={"ru": "В работе (WIP)"},
    )
    backlog: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in the block at week end", info={"ru": "Backlog"}
    )
    discovery: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Discovery"})
    delivery: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Delivery"})
    done: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Готово"})
    cancelled: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Отменено"})
    paused: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in the pause block", info={"ru": "Приостановлено"}
    )
    cumulative_arrivals: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Поступило нарастающим итогом"}
    )
    cumulative_throughput: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Завершено нарастающим итогом"}
    )


class ReportAgingWip(Base):
    """Open product tasks: age in the current status and since work started vs the team's p85."""

    __tablename__ = "report_aging_wip"

    task_key: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, info={"ru": "Ключ задачи"}
    )
    summary: Mapped[str | None] = mapped_column(sa.Text, info={"ru": "Название"})
    author: Mapped[str | None] = mapped_column(NAME, info={"ru": "Автор"})
    team: Mapped[str] = mapped_column(NAME, info={"ru": "Команда"})
    current_status: Mapped[str] = mapped_column(NAME, info={"ru": "Текущий статус"})
    status_block: Mapped[str] = mapped_column(
        BLOCK, info={"ru": "Блок статуса", "ru_values": STATUS_BLOCKS_RU}
    )
    in_status_since: Mapped[datetime] = mapped_column(TZ, info={"ru": "В статусе с"})
    age_in_status: Mapped[int] = mapped_column(
        sa.Integer, comment="days in the current status", info={"ru": "Дней в статусе"}
    )
    work_started: Mapped[datetime | None] = mapped_column(TZ, info={"ru": "Начало работы"})
    age_since_work_started: Mapped[int | None] = mapped_column(
        sa.Integer, info={"ru": "Дней с начала работы"}
    )
    age_since_created: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Дней с создания"})
    team_status_p85: Mapped[float | None] = mapped_column(
        sa.Float,
        comment="p85 of the team's closed stays in this status, days",
        info={"ru": "85 перцентиль команды для статуса"},
    )
    over_p85: Mapped[bool | None] = mapped_column(
        sa.Boolean, comment="age_in_status above team_status_p85", info={"ru": "Выше 85 перцентиля"}
    )


class ReportSubepicReturns(Base):
    """Returns into each workflow status per implementation-queue task created since
    `subepic_returns.start_date`, with its epic and the epic's team, month and quarter."""

    __tablename__ = "report_subepic_returns"

    task_key: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, info={"ru": "Ключ задачи"}
    )
    summary: Mapped[str | None] = mapped_column(sa.Text, info={"ru": "Название"})
    author: Mapped[str | None] = mapped_column(
        NAME, comment="task author (createdBy)", info={"ru": "Автор"}
    )
    team: Mapped[str | None] = mapped_column(
        NAME,
        comment="team field of the epic, else of its first task having one, else the same "
        "for the product-team field; without an epic the task's own",
        info={"ru": "Команда"},
    )
    epic_key: Mapped[str | None] = mapped_column(
        sa.String(64), comment="the task's epic", info={"ru": "Ключ эпика"}
    )
    epic_summary: Mapped[str | None] = mapped_column(
        sa.Text, comment="title of the epic", info={"ru": "Название эпика"}
    )
    epic_month: Mapped[str | None] = mapped_column(
        sa.String(7),
        comment="YYYY-MM of the earliest creation among the epic's rows; without an epic "
        "the task's own",
        info={"ru": "Месяц эпика"},
    )
    epic_quarter: Mapped[str | None] = mapped_column(
        NAME,
        comment="quarter field of the epic; without an epic the task's own",
        info={"ru": "Квартал эпика"},
    )
    created: Mapped[datetime] = mapped_column(TZ, comment="task creation", info={"ru": "Создана"})
    current_status: Mapped[str] = mapped_column(
        NAME, comment="status as of as_of", info={"ru": "Текущий статус"}
    )
    returns_in_progress: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты InProgress"})
    returns_review: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты Ревью"})
    returns_testing: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты Testing"})
    returns_external_test: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Возвраты Внешний тест"}
    )
    returns_approval: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты Апрув"})
    returns_regression: Mapped[int] = mapped_column(
        sa.Integer, info={"ru": "Возвраты Регресс-тест"}
    )
    returns_done: Mapped[int] = mapped_column(sa.Integer, info={"ru": "Возвраты Done"})
    returns_total: Mapped[int] = mapped_column(
        sa.Integer, comment="sum of the columns above", info={"ru": "Всего возвратов"}
    )


REPORT_TABLES: dict[str, sa.Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (
        ReportTtmDetails,
        ReportTtmSummary,
        ReportStatusActivity,
        ReportTimeInStatus,
        ReportTestingReturns,
        ReportFlowWeekly,
        ReportAgingWip,
        ReportSubepicReturns,
    )
}


# --------------------------------------------------------------------------- history
# Snapshots kept per UTC day (not replaced as a whole): every product build replaces
# the snapshot of its as_of's day (`reports.history.snapshot_day`), and the weekly
# `report_summary_history` partitions add the snapshots of past week ends. Not in
# REPORT_TABLES: those are the tables a build replaces.

SUMMARY_METRICS_RU = (
    ("ttm", "TTM"),
    ("ttd", "TTD"),
    ("tail", "Tail"),
    ("devlt", "DevLT"),
    ("pause", "Пауза"),
)
#: statistic -> (column type, nullable, Russian label); `over` exists for all but pause
SUMMARY_STATS = {
    "count": (sa.Integer, False, "количество"),
    "mean": (sa.Float, True, "среднее"),
    "median": (sa.Float, True, "медиана"),
    "p85": (sa.Float, True, "85 перцентиль"),
    "max": (sa.Integer, True, "максимум"),
    "over": (sa.Integer, False, "выше порога"),
}


def _summary_stat_columns() -> list[sa.Column]:
    """The statistics columns of report_ttm_summary, in its order, labelled in Russian."""
    return [
        sa.Column(
            f"{metric}_{stat}",
            kind,
            nullable=nullable,
            comment=f"{label} over thresholds.{metric}" if stat == "over" else None,
            info={"ru": f"{label} {stat_ru}"},
        )
        for metric, label in SUMMARY_METRICS_RU
        for stat, (kind, nullable, stat_ru) in SUMMARY_STATS.items()
        if not (stat == "over" and metric == "pause")
    ]


class ReportSummaryHistory(Base):
    """report_ttm_summary as of each snapshot's as_of: its rows, plus the as_of."""

    __table__ = sa.Table(
        "report_summary_history",
        Base.metadata,
        sa.Column(
            "as_of",
            TZ,
            primary_key=True,
            comment="the instant the snapshot describes",
            info={"ru": "На дату"},
        ),
        sa.Column("period", NAME, primary_key=True, comment="period name", info={"ru": "Квартал"}),
        sa.Column(
            "dimension",
            sa.String(16),
            primary_key=True,
            comment="'team' or 'lead'",
            info={"ru": "Разрез"},
        ),
        sa.Column(
            "name",
            NAME,
            primary_key=True,
            comment="the team or the lead",
            info={"ru": "Команда или лид"},
        ),
        sa.Column(
            "current_period",
            sa.Boolean,
            nullable=False,
            comment="the period holds the snapshot's last instant (just before as_of)",
            info={"ru": "Текущий квартал"},
        ),
        sa.Column(
            "period_start",
            sa.Date,
            nullable=False,
            comment="first day of the period",
            info={"ru": "Начало квартала"},
        ),
        sa.Column(
            "tasks",
            sa.Integer,
            nullable=False,
            comment="finished tasks",
            info={"ru": "Завершено задач"},
        ),
        *_summary_stat_columns(),
    )


class ReportFlowHistory(Base):
    """Per snapshot (as_of) and team: work in progress and throughput, for the trends."""

    __tablename__ = "report_flow_history"

    as_of: Mapped[datetime] = mapped_column(
        TZ, primary_key=True, comment="the instant the snapshot describes", info={"ru": "На дату"}
    )
    team: Mapped[str] = mapped_column(NAME, primary_key=True, info={"ru": "Команда"})
    week_start: Mapped[date] = mapped_column(
        sa.Date,
        comment="Monday of the week the snapshot closes (the last week of report_flow_weekly)",
        info={"ru": "Начало недели"},
    )
    wip: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in discovery or delivery at as_of", info={"ru": "В работе (WIP)"}
    )
    throughput: Mapped[int] = mapped_column(
        sa.Integer,
        comment="tasks completed that week, up to as_of",
        info={"ru": "Завершено за неделю"},
    )
    arrivals: Mapped[int] = mapped_column(
        sa.Integer,
        comment="tasks created that week, up to as_of",
        info={"ru": "Поступило за неделю"},
    )
    aging_over_p85: Mapped[int] = mapped_column(
        sa.Integer,
        comment="open tasks older in their status than the team's p85 (report_aging_wip)",
        info={"ru": "Зависли дольше p85"},
    )
    in_development: Mapped[int] = mapped_column(
        sa.Integer,
        comment="unfinished tasks that went through development, with a DevLT (details rows)",
        info={"ru": "В разработке"},
    )
    in_development_devlt_mean: Mapped[float | None] = mapped_column(
        sa.Float,
        comment="mean DevLT to as_of of those tasks",
        info={"ru": "DevLT в разработке среднее"},
    )
    in_development_devlt_median: Mapped[float | None] = mapped_column(
        sa.Float,
        comment="median DevLT to as_of of those tasks",
        info={"ru": "DevLT в разработке медиана"},
    )
    in_development_devlt_p85: Mapped[float | None] = mapped_column(
        sa.Float,
        comment="p85 of DevLT to as_of of those tasks",
        info={"ru": "DevLT в разработке 85 перцентиль"},
    )


HISTORY_TABLES: dict[str, sa.Table] = {
    model.__table__.name: model.__table__  # type: ignore[misc]
    for model in (ReportSummaryHistory, ReportFlowHistory)
}


# --------------------------------------------------------------------------- incremental builds
# Bookkeeping of incremental report builds (radiator_assets.reports.changes): not reports,
# never exported, but labelled like the report tables all the same.


class ReportBuild(Base):
    """The last committed build of one report family: what an incremental build starts from."""

    __tablename__ = "report_builds"

    family: Mapped[str] = mapped_column(
        sa.String(64),
        primary_key=True,
        comment="report family, e.g. 'product'",
        info={"ru": "Семейство отчётов"},
    )
    as_of: Mapped[datetime] = mapped_column(
        TZ, comment="the instant the build described", info={"ru": "На дату"}
    )
    config_hash: Mapped[str] = mapped_column(
        sa.Text, comment="hash of the metrics configuration used", info={"ru": "Хеш конфигурации"}
    )
    grain: Mapped[str] = mapped_column(
        sa.Text,
        comment="the coarse as_of-dependent shape of the reports (e.g. their weeks); "
        "a change forces a full build",
        info={"ru": "Зерно"},
    )
    built_at: Mapped[datetime] = mapped_column(
        TZ, comment="when the build committed", info={"ru": "Построено"}
    )


class ReportBuildTask(Base):
    """Per family and task: the fingerprint the last build saw and the task's contribution
    to the family's aggregates (`state`), so an incremental build can subtract it."""

    __tablename__ = "report_build_tasks"
    __table_args__ = (
        sa.Index("ix_report_build_tasks_family_recompute_at", "family", "recompute_at"),
    )

    family: Mapped[str] = mapped_column(
        sa.String(64), primary_key=True, info={"ru": "Семейство отчётов"}
    )
    task_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, info={"ru": "ID задачи"})
    task_key: Mapped[str] = mapped_column(sa.Text, info={"ru": "Ключ задачи"})
    fingerprint: Mapped[str] = mapped_column(
        sa.Text,
        comment="task row xmin (product:linked: a linked task's row xmin; product:pairs: empty)",
        info={"ru": "Отпечаток"},
    )
    state: Mapped[dict | None] = mapped_column(
        JSONB,
        nullable=True,
        comment="the task's contribution to the aggregates",
        info={"ru": "Вклад"},
    )
    recompute_at: Mapped[datetime | None] = mapped_column(
        TZ,
        nullable=True,
        comment="the earliest as_of at which the task's as_of-dependent values change",
        info={"ru": "Пересчитать с"},
    )


class ReportAgingStayDays(Base):
    """Histogram of the closed stays of visible product tasks: per team, status and length in
    days, how many stays; report_aging_wip's team p85 is read from it."""

    __tablename__ = "report_aging_stay_days"

    team: Mapped[str] = mapped_column(NAME, primary_key=True, info={"ru": "Команда"})
    status: Mapped[str] = mapped_column(NAME, primary_key=True, info={"ru": "Статус"})
    days: Mapped[int] = mapped_column(sa.Integer, primary_key=True, info={"ru": "Дней"})
    stays: Mapped[int] = mapped_column(sa.BigInteger, info={"ru": "Пребываний"})
