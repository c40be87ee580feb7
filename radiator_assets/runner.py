"""Running the asset graph in-process, for people without a Dagster deployment.

`radiator sync` and `radiator demo` call `run_sync`, a thin wrapper over
Dagster's own `materialize`: the same assets, checks and resources as a
deployment, so there is one code path. Runs are recorded in the Dagster
instance at `$DAGSTER_HOME` (default `$RADIATOR_HOME/dagster`), so `dagster dev`
started with the same `DAGSTER_HOME` shows them.

The console stays quiet by default: Dagster's event log of every run, with the
full traceback of a failed step, is written to `$RADIATOR_HOME/logs/sync-<run
id>.log`, and the outcome carries one readable message per failed step plus
what the failed run's steps wrote (from the `tracker_sync_runs` journal), so
`radiator sync` can print a short summary. `log_level` prints Dagster's console
log as well (`radiator --verbose sync`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from radiator_assets.settings import get_settings
from radiator_assets.storage.engine import get_engine
from radiator_assets.storage.migrations import ensure_migrated
from radiator_assets.sync.changes import sync_need
from radiator_assets.sync.marks import listing_mark
from radiator_assets.sync.sync_runs import steps_of_run
from radiator_assets.tracker.client import TrackerClient
from radiator_assets.tracker.errors import TrackerConfigError

log = logging.getLogger(__name__)

LOCAL_INSTANCE_YAML = """\
# Local Dagster instance written by radiator: SQLite storage under this folder.
# deploy/dagster.yaml in the repository is the production (PostgreSQL) instance.
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """`$DAGSTER_HOME`, or `$RADIATOR_HOME/dagster` (created) when unset."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured) if configured else get_settings().home.resolve() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(LOCAL_INSTANCE_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class StepFailure:
    """A failed step and its error, in one line a person reads (no traceback)."""

    step: str
    message: str

    @property
    def is_configuration(self) -> bool:
        """Tracker refused the credentials or the organisation: the user must fix a setting.
        (Dagster keeps only the class name of a step's error.)"""
        return self.message.split(":", 1)[0] in _CONFIGURATION_ERRORS


_CONFIGURATION_ERRORS = frozenset(
    cls.__name__ for cls in (TrackerConfigError, *TrackerConfigError.__subclasses__())
)


@dataclass(frozen=True)
class JournalRow:
    """One `tracker_sync_runs` row of a run: what a sync step wrote, even if it failed."""

    kind: str  # issues:<mode>, changelog, history
    status: str
    error: str | None
    tasks_written: int
    entries_written: int
    history_written: int
    api_requests: int

    @property
    def asset(self) -> str:
        """The asset whose step wrote the row (`issues:full` -> `tracker_issues`)."""
        return JOURNAL_ASSETS.get(self.kind.split(":", 1)[0], self.kind)


JOURNAL_ASSETS = {
    "issues": "tracker_issues",
    "changelog": "tracker_changelog",
    "history": "tracker_task_history",
}


@dataclass(frozen=True)
class SyncOutcome:
    success: bool
    run_id: str
    metadata: dict[str, dict[str, Any]]  # asset key -> metadata values
    checks: dict[str, bool]  # check name -> passed
    warnings: frozenset[str] = frozenset()  # checks that failed at WARN severity
    failures: tuple[StepFailure, ...] = ()
    journal: tuple[JournalRow, ...] = ()  # read when the run failed
    log_path: Path | None = None  # Dagster's event log of the run

    def value(self, asset: str, key: str, default: Any = None) -> Any:
        return self.metadata.get(asset, {}).get(key, default)

    def journal_row(self, asset: str) -> JournalRow | None:
        """The newest journal row of `asset`'s step in this run, if it wrote one."""
        rows = [row for row in self.journal if row.asset == asset]
        return rows[-1] if rows else None

    def failed(self, step: str) -> bool:
        return any(f.step == step for f in self.failures)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


#: Dagster's own wrappers around the exception a step raised
_WRAPPERS = ("Dagster", "Failure")
MESSAGE_LIMIT = 500


def error_message(error: Any) -> str:
    """`Class: message` of the exception a step raised, on one line.

    Dagster wraps it (`DagsterExecutionStepExecutionError`, or `Failure` raised
    from it): the first error of the chain that is not a wrapper is the one the
    step's code raised; its own causes are lower-level details for the log."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    chosen = next((e for e in chain if not e.cls_name.startswith(_WRAPPERS)), chain[0])
    text = chosen.message.strip()
    # format_exception_only writes `module.Class: message`
    head, sep, rest = text.partition(": ")
    if sep and head.rsplit(".", 1)[-1] == chosen.cls_name:
        text = rest
    text = " ".join(text.split())
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return f"{chosen.cls_name}: {text}" if text else chosen.cls_name


def _step_failures(result: dg.ExecuteInProcessResult) -> tuple[StepFailure, ...]:
    failures = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        message = error_message(data.error) if data.error is not None else "failed"
        failures.append(StepFailure(event.step_key or "?", message))
    return tuple(failures)


def read_journal(engine: Engine, run_id: str) -> tuple[JournalRow, ...]:
    """The journal rows a run wrote, oldest first (read-only; empty if unreadable)."""
    try:
        return tuple(JournalRow(*row) for row in steps_of_run(engine, run_id))
    except SQLAlchemyError:
        # The failure may be the database itself; the step's error says so.
        return ()


def logs_dir() -> Path:
    """`$RADIATOR_HOME/logs`, where runs and the command write their full logs."""
    return get_settings().home.resolve() / "logs"


def write_event_log(instance: dg.DagsterInstance, run_id: str) -> Path:
    """Dagster's event log of the run, every level, with the full error of each failure."""
    path = logs_dir() / f"sync-{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    errors_written: set[str] = set()
    with path.open("w", encoding="utf-8") as out:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            moment = datetime.fromtimestamp(entry.timestamp, UTC).isoformat(timespec="milliseconds")
            level = logging_level_name(entry.level)
            kind = event.event_type_value if event is not None else "LOG"
            message = entry.user_message or (event.message if event is not None else "") or ""
            out.write(f"{moment} {level} {entry.step_key or '-'} {kind}: {message}\n")
            error = getattr(event.event_specific_data, "error", None) if event else None
            if error is not None:
                text = error.to_string().rstrip()
                # the run's failure repeats its first failed step's error
                if text not in errors_written:
                    errors_written.add(text)
                    out.write(text + "\n")
    return path


def logging_level_name(level: int | str) -> str:
    return level if isinstance(level, str) else logging.getLevelName(level)


def nothing_to_sync(*, reports: bool) -> str | None:
    """Why an incremental `radiator sync` can start no run at all, or None when it must run.

    The sensor's own question (`sync_need`: one paged search, usually one request):
    nothing new in Tracker since the last complete listing, and no changelog, history or
    quarantined record left behind. With `reports`, the reports must also have been
    built today, after the newest history (their ages move with the calendar)."""
    settings = get_settings()
    engine = get_engine()
    ensure_migrated(engine)
    with TrackerClient.from_settings(settings) as client:
        need = sync_need(
            engine, client, settings.tracker_query, timedelta(minutes=settings.sync_overlap_minutes)
        )
    if not need.nothing:
        return None
    if reports and not _reports_current():
        return None
    since = f"{need.mark:%Y-%m-%d %H:%M} UTC" if need.mark else "the last sync (no issue matched)"
    return f"nothing changed in Tracker since {since}: no run started"


def _reports_current() -> bool:
    """Every report was materialized today (UTC), after the newest status history."""
    from radiator_assets.assets.report_pictures import CURRENT_REPORT_TABLES
    from radiator_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    report_keys = CURRENT_REPORT_TABLES.resolve(graph)
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        latest = instance.get_latest_materialization_events(
            [*report_keys, dg.AssetKey("tracker_task_history")]
        )
    history = latest.pop(dg.AssetKey("tracker_task_history"), None)
    today = datetime.now(UTC).date()
    stamps = [event.timestamp if event else None for event in latest.values()]
    return (
        bool(stamps)
        and all(s is not None and datetime.fromtimestamp(s, UTC).date() == today for s in stamps)
        and (history is None or min(s for s in stamps if s) >= history.timestamp)
    )


def run_sync(
    *,
    selection: Sequence[str] | None = None,
    mode: str = "incremental",
    since: date | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str | None = None,
    given: dict[str, Any] | None = None,
) -> SyncOutcome:
    """Materialize the ingestion assets (and whatever `selection` adds) in this process.

    `given` makes it an ad-hoc sync of given issues: `tracker_issues`' config `keys` or
    `query` (and `keys_per_batch`), shown in the run's config in the UI and in the
    `radiator/given` tag. Such a run covers the current month's partition only (its
    entries of other months are recorded as received): it is no first sync, whatever
    the mark says. Dagster's console log is printed from `log_level` up (None: not at
    all); the whole event log is written to `outcome.log_path` either way."""
    # Imported here, not at the top: the partitions are defined from RADIATOR_HISTORY_START
    # as the definitions load, and `radiator demo` sets it to its organisation's first day.
    from radiator_assets.assets.partitions import current_partition_key, first_month_recorded
    from radiator_assets.automation.jobs import (
        GIVEN_TAG,
        INCREMENTAL_RUN_TAGS,
        PENDING_ONLY_OPS,
        given_tag,
        in_process_run_tags,
        tracker_sync_job,
        whole_history_tags,
    )
    from radiator_assets.definitions import defs

    settings = get_settings()
    engine = get_engine()
    # Before anything reads the warehouse (the listing mark below): a first run on an
    # empty database migrates it, as the warehouse resource would in each step.
    ensure_migrated(engine)
    issues_config: dict[str, Any] = {"mode": mode, **(given or {})}
    if since is not None:
        issues_config["since"] = since.isoformat()
    selection = list(selection or ["group:tracker"])
    with engine.connect() as conn:
        mark = listing_mark(conn, settings.tracker_query)
    own_instance = instance is None
    if own_instance:
        dagster_home()
        instance = dg.DagsterInstance.get()
    try:
        # Until a first sync has covered every month, runs cover them all (a rerun after a
        # kill records the months the killed run could not); later runs the current month,
        # and record any other month whose entries they store.
        first_sync = not given and (mark is None or not first_month_recorded(instance))
        partition = None if first_sync else current_partition_key()
        tags = {
            **(whole_history_tags() if first_sync else INCREMENTAL_RUN_TAGS),
            **in_process_run_tags(),
            **({GIVEN_TAG: given_tag(given)} if given else {}),
        }
        job = defs.resolve_job_def(tracker_sync_job.name)
        keys = dg.AssetSelection.from_string(" or ".join(selection)).resolve(
            job.asset_layer.asset_graph
        )
        result = job.execute_in_process(
            run_config={
                "ops": {
                    name: config
                    for name, config in (
                        {"tracker_issues": {"config": issues_config}} | PENDING_ONLY_OPS
                    ).items()
                    if dg.AssetKey(name) in keys
                },
                "loggers": {"console": {"config": {"log_level": log_level or "CRITICAL"}}},
            },
            instance=instance,
            partition_key=partition,
            tags=tags,
            asset_selection=sorted(keys),
            raise_on_error=False,
        )
        try:
            log_path: Path | None = write_event_log(instance, result.run_id)
        except OSError as exc:
            log.warning("could not write the run's event log: %s", exc)
            log_path = None
    finally:
        if own_instance:
            instance.dispose()
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        metadata[mat.asset_key.to_user_string()] = {k: _plain(v) for k, v in mat.metadata.items()}
    evaluations = result.get_asset_check_evaluations()
    checks_passed = {evaluation.check_name: evaluation.passed for evaluation in evaluations}
    warned = frozenset(
        e.check_name
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    )
    return SyncOutcome(
        result.success,
        result.run_id,
        metadata,
        checks_passed,
        warnings=warned,
        failures=_step_failures(result),
        journal=() if result.success else read_journal(engine, result.run_id),
        log_path=log_path,
    )


@dataclass(frozen=True)
class PicturesOutcome:
    """A `pictures` run in this process: whether it succeeded, and each picture's path and
    whether it was redrawn (name -> (path, redrawn)), from report_pictures' metadata."""

    success: bool
    run_id: str
    pictures: dict[str, Path]
    redrawn: int
    failures: tuple[StepFailure, ...] = ()


def run_pictures(
    *, instance: dg.DagsterInstance | None = None, log_level: str | None = None
) -> PicturesOutcome:
    """Materialize `report_pictures` (the `pictures` job) in this process: every picture
    drawn from the committed report tables, kept when unchanged. The run shows in the UI
    like the sensor's; `radiator pictures` and the demo call it."""
    from radiator_assets.automation.jobs import in_process_run_tags, pictures_job
    from radiator_assets.definitions import defs

    ensure_migrated(get_engine())
    own_instance = instance is None
    if own_instance:
        dagster_home()
        instance = dg.DagsterInstance.get()
    try:
        result = defs.resolve_job_def(pictures_job.name).execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": log_level or "CRITICAL"}}}},
            instance=instance,
            tags=in_process_run_tags(),
            raise_on_error=False,
        )
    finally:
        if own_instance:
            instance.dispose()
    metadata: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        metadata = {k: _plain(v) for k, v in mat.metadata.items()}
    pictures = {
        key.removeprefix("picture_"): Path(str(value))
        for key, value in metadata.items()
        if key.startswith("picture_")
    }
    return PicturesOutcome(
        result.success,
        result.run_id,
        pictures,
        int(metadata.get("redrawn", 0)),
        _step_failures(result),
    )
