"""The report tables: what the `reports` asset group writes.

Each table is replaced as a whole by its report build, inside one transaction
(DELETE, then bulk COPY): a reader sees the old rows until the commit and the
new rows after it, never a half-built table. Day counts are whole calendar
days (see the metric spec); timestamps are `timestamptz` in UTC.

Column comments become the column descriptions in the Dagster UI.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from radiator_assets.storage.models import TZ, Base

NAME = sa.String(255)
BLOCK = sa.String(32)


def _days(comment: str, *, nullable: bool = True) -> Mapped[int | None]:
    return mapped_column(sa.Integer, nullable=nullable, comment=comment)


class ReportTtmDetails(Base):
    """One row per product-queue task finished in a period, or unfinished, not cancelled and
    past discovery: entered the ready-for-development status by as_of (a task waiting in
    it is a row; see `radiator_assets.reports.details`)."""

    __tablename__ = "report_ttm_details"

    task_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True, comment="task key")
    summary: Mapped[str | None] = mapped_column(sa.Text, comment="task title")
    author: Mapped[str | None] = mapped_column(NAME, comment="task author (createdBy)")
    team: Mapped[str] = mapped_column(NAME, comment="team of the author (config teams.authors)")
    lead: Mapped[str] = mapped_column(NAME, comment="lead of the team (config teams.leads)")
    period: Mapped[str | None] = mapped_column(NAME, comment="period of the completion date")
    ttd_period: Mapped[str | None] = mapped_column(
        NAME, comment="period of the first ready-for-development date"
    )
    ttm: Mapped[int | None] = _days(
        "TTM, days; unfinished tasks (finished = false): measured to as_of"
    )
    pause: Mapped[int] = mapped_column(sa.Integer, comment="days in pause (pause_total)")
    tail: Mapped[int | None] = _days("last external test to done, minus pause, days")
    devlt: Mapped[int | None] = _days("development lead time, calendar days")
    ttd: Mapped[int | None] = _days("time to delivery (to ready for development), days")
    ttd_pause: Mapped[int | None] = _days("pause before ready for development, days")
    discovery_backlog_days: Mapped[int] = mapped_column(
        sa.Integer, comment="days in the discovery-backlog status"
    )
    ready_for_dev_days: Mapped[int] = mapped_column(
        sa.Integer, comment="days in the ready-for-development status"
    )
    returns_testing: Mapped[int] = mapped_column(
        sa.Integer, comment="returns into the first testing-return status, linked tasks"
    )
    returns_external_test: Mapped[int] = mapped_column(
        sa.Integer, comment="returns into the second testing-return status, linked tasks"
    )
    returns_total: Mapped[int] = mapped_column(
        sa.Integer, comment="returns into all testing-return statuses, linked tasks"
    )
    created: Mapped[datetime] = mapped_column(TZ, comment="task creation")
    work_started: Mapped[datetime | None] = mapped_column(
        TZ, comment="end of the last discovery-backlog stay"
    )
    completed: Mapped[datetime | None] = mapped_column(TZ, comment="completion date")
    went_through_development: Mapped[bool] = mapped_column(
        sa.Boolean, comment="had an in-development stay of at least min_stay"
    )
    finished: Mapped[bool] = mapped_column(sa.Boolean, comment="finished as of as_of")
    current_status: Mapped[str | None] = mapped_column(NAME, comment="status as of as_of")
    status_block: Mapped[str | None] = mapped_column(BLOCK, comment="block of current_status")

    __table_args__ = (sa.Index("ix_report_ttm_details_period_team", "period", "team"),)


class ReportTtmSummary(Base):
    """Finished tasks per (period, team) and per (period, lead): statistics of each metric."""

    __tablename__ = "report_ttm_summary"

    period: Mapped[str] = mapped_column(NAME, primary_key=True, comment="period name")
    dimension: Mapped[str] = mapped_column(
        sa.String(16), primary_key=True, comment="'team' or 'lead'"
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True, comment="the team or the lead")
    period_start: Mapped[date] = mapped_column(sa.Date, comment="first day of the period")
    tasks: Mapped[int] = mapped_column(sa.Integer, comment="finished tasks")
    ttm_count: Mapped[int] = mapped_column(sa.Integer)
    ttm_mean: Mapped[float | None] = mapped_column(sa.Float)
    ttm_median: Mapped[float | None] = mapped_column(sa.Float)
    ttm_p85: Mapped[float | None] = mapped_column(sa.Float)
    ttm_max: Mapped[int | None] = mapped_column(sa.Integer)
    ttm_over: Mapped[int] = mapped_column(sa.Integer, comment="TTM over thresholds.ttm")
    ttd_count: Mapped[int] = mapped_column(sa.Integer)
    ttd_mean: Mapped[float | None] = mapped_column(sa.Float)
    ttd_median: Mapped[float | None] = mapped_column(sa.Float)
    ttd_p85: Mapped[float | None] = mapped_column(sa.Float)
    ttd_max: Mapped[int | None] = mapped_column(sa.Integer)
    ttd_over: Mapped[int] = mapped_column(sa.Integer, comment="TTD over thresholds.ttd")
    tail_count: Mapped[int] = mapped_column(sa.Integer)
    tail_mean: Mapped[float | None] = mapped_column(sa.Float)
    tail_median: Mapped[float | None] = mapped_column(sa.Float)
    tail_p85: Mapped[float | None] = mapped_column(sa.Float)
    tail_max: Mapped[int | None] = mapped_column(sa.Integer)
    tail_over: Mapped[int] = mapped_column(sa.Integer, comment="Tail over thresholds.tail")
    devlt_count: Mapped[int] = mapped_column(sa.Integer)
    devlt_mean: Mapped[float | None] = mapped_column(sa.Float)
    devlt_median: Mapped[float | None] = mapped_column(sa.Float)
    devlt_p85: Mapped[float | None] = mapped_column(sa.Float)
    devlt_max: Mapped[int | None] = mapped_column(sa.Integer)
    devlt_over: Mapped[int] = mapped_column(sa.Integer, comment="DevLT over thresholds.devlt")
    pause_count: Mapped[int] = mapped_column(sa.Integer)
    pause_mean: Mapped[float | None] = mapped_column(sa.Float)
    pause_median: Mapped[float | None] = mapped_column(sa.Float)
    pause_p85: Mapped[float | None] = mapped_column(sa.Float)
    pause_max: Mapped[int | None] = mapped_column(sa.Integer)


class ReportStatusActivity(Base):
    """Product-queue status changes in the last full week and the week before, per author/team."""

    __tablename__ = "report_status_activity"

    dimension: Mapped[str] = mapped_column(
        sa.String(16), primary_key=True, comment="'author' or 'team'"
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True, comment="the author or the team")
    week_start: Mapped[date] = mapped_column(
        sa.Date, comment="Monday of the last full week before as_of"
    )
    changes_last_week: Mapped[int] = mapped_column(sa.Integer)
    tasks_last_week: Mapped[int] = mapped_column(sa.Integer, comment="distinct tasks changed")
    changes_prev_week: Mapped[int] = mapped_column(sa.Integer)
    tasks_prev_week: Mapped[int] = mapped_column(sa.Integer)
    changes_trend: Mapped[int] = mapped_column(
        sa.Integer, comment="last week minus the week before"
    )
    tasks_trend: Mapped[int] = mapped_column(sa.Integer, comment="last week minus the week before")
    open_discovery: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in a discovery-block status at as_of"
    )
    open_delivery: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in a delivery-block status at as_of"
    )


class ReportTimeInStatus(Base):
    """Days each task (any synced queue) spent in each status, raw history."""

    __tablename__ = "report_time_in_status"

    task_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(NAME, primary_key=True)
    queue: Mapped[str | None] = mapped_column(sa.String(64))
    status_block: Mapped[str] = mapped_column(BLOCK, comment="block of this status")
    days: Mapped[int] = mapped_column(sa.Integer, comment="days in this status, closed stays")
    current_days: Mapped[int] = mapped_column(
        sa.Integer, comment="days of the open current stay up to as_of (0 unless current)"
    )
    entries: Mapped[int] = mapped_column(sa.Integer, comment="times the task entered this status")
    is_current: Mapped[bool] = mapped_column(sa.Boolean)
    current_status: Mapped[str] = mapped_column(NAME, comment="the task's status at as_of")
    last_change: Mapped[datetime] = mapped_column(TZ, comment="start of the current stay")

    __table_args__ = (sa.Index("ix_report_time_in_status_status", "status"),)


class ReportTestingReturns(Base):
    """Returns into each workflow status per implementation-queue task and per epic."""

    __tablename__ = "report_testing_returns"

    scope: Mapped[str] = mapped_column(sa.String(16), primary_key=True, comment="'task' or 'epic'")
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True, comment="task or epic key")
    summary: Mapped[str | None] = mapped_column(sa.Text)
    epic_key: Mapped[str | None] = mapped_column(sa.String(64))
    tasks: Mapped[int] = mapped_column(sa.Integer, comment="tasks counted (1 for a task)")
    current_status: Mapped[str | None] = mapped_column(NAME)
    returns_in_progress: Mapped[int] = mapped_column(sa.Integer)
    returns_review: Mapped[int] = mapped_column(sa.Integer)
    returns_testing: Mapped[int] = mapped_column(sa.Integer)
    returns_external_test: Mapped[int] = mapped_column(sa.Integer)
    returns_approval: Mapped[int] = mapped_column(sa.Integer)
    returns_regression: Mapped[int] = mapped_column(sa.Integer)
    returns_done: Mapped[int] = mapped_column(sa.Integer)
    returns_total: Mapped[int] = mapped_column(sa.Integer, comment="sum of the columns above")


class ReportFlowWeekly(Base):
    """Per week (Monday, UTC) and team: arrivals, throughput, WIP, tasks per block at week end."""

    __tablename__ = "report_flow_weekly"

    week_start: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    team: Mapped[str] = mapped_column(NAME, primary_key=True)
    arrivals: Mapped[int] = mapped_column(sa.Integer, comment="tasks created that week")
    throughput: Mapped[int] = mapped_column(sa.Integer, comment="tasks completed that week")
    wip: Mapped[int] = mapped_column(
        sa.Integer, comment="tasks in discovery or delivery at week end"
    )
    backlog: Mapped[int] = mapped_column(sa.Integer, comment="tasks in the block at week end")
    discovery: Mapped[int] = mapped_column(sa.Integer)
    delivery: Mapped[int] = mapped_column(sa.Integer)
    done: Mapped[int] = mapped_column(sa.Integer)
    cancelled: Mapped[int] = mapped_column(sa.Integer)
    paused: Mapped[int] = mapped_column(sa.Integer, comment="tasks in the pause block")
    cumulative_arrivals: Mapped[int] = mapped_column(sa.Integer)
    cumulative_throughput: Mapped[int] = mapped_column(sa.Integer)


class ReportAgingWip(Base):
    """Open product tasks: age in the current status and since work started vs the team's p85."""

    __tablename__ = "report_aging_wip"

    task_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    summary: Mapped[str | None] = mapped_column(sa.Text)
    author: Mapped[str | None] = mapped_column(NAME)
    team: Mapped[str] = mapped_column(NAME)
    current_status: Mapped[str] = mapped_column(NAME)
    status_block: Mapped[str] = mapped_column(BLOCK)
    in_status_since: Mapped[datetime] = mapped_column(TZ)
    age_in_status: Mapped[int] = mapped_column(sa.Integer, comment="days in the current status")
    work_started: Mapped[datetime | None] = mapped_column(TZ)
    age_since_work_started: Mapped[int | None] = mapped_column(sa.Integer)
    age_since_created: Mapped[int] = mapped_column(sa.Integer)
    team_status_p85: Mapped[float | None] = mapped_column(
        sa.Float, comment="p85 of the team's closed stays in this status, days"
    )
    over_p85: Mapped[bool | None] = mapped_column(
        sa.Boolean, comment="age_in_status above team_status_p85"
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
