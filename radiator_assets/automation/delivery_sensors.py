"""Sensors of delivery: Sheets after reports, the Telegram summary, the Telegram commands.

* `google_sheets_after_reports`: a run-status sensor; each successful run of the sync or
  reports job (both rebuild the reports) starts the `google_sheets` job, keyed by that
  run, so a failure to publish is that job's failure, never the reports'.
* `telegram_reports_sensor`: when report_ttm_details has a materialization the cursor has
  not seen, and its run is over, posts what changed (`radiator_assets.delivery.
  notification`), the pictures the reports recorded and the details CSV to each chat. The
  cursor holds the materialization's storage id and the snapshot the next change is
  measured against; it moves only after every call succeeded, so a Telegram failure is
  logged and the next tick sends again.
* `telegram_commands_sensor`: polls `getUpdates` with the update offset as its cursor;
  `/sync` and `/report` from an allowed chat request a run (keyed by the update, so a
  retried tick never starts two), `/status` answers with the newest runs; any other chat
  is logged and ignored. The offset moves past every update seen, obeyed or not.

All three skip with the reason while their service is not configured.
"""

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from radiator_assets.assets.delivery import google_sheets_reports
from radiator_assets.assets.partitions import current_partition_key
from radiator_assets.assets.reports import parse_as_of
from radiator_assets.automation.jobs import INCREMENTAL_RUN_TAGS, tracker_sync_job
from radiator_assets.automation.report_schedules import reports_job
from radiator_assets.automation.sensors import AUTOMATION_RUN_CONFIG
from radiator_assets.delivery.deliver import Attachments, send_report
from radiator_assets.delivery.notification import (
    CSV_REPORT,
    Snapshot,
    report_change,
    summary_text,
    write_details_csv,
)
from radiator_assets.delivery.retry import RetryableError, RetryPolicy
from radiator_assets.delivery.telegram import Command, TelegramError, next_offset, parse_command
from radiator_assets.resources import TelegramResource, TrackerResource, WarehouseResource
from radiator_assets.settings import DeliverySettings
from radiator_assets.storage.report_models import REPORT_TABLES

#: a tick must answer within Dagster's sensor timeout (60 s by default)
SENSOR_RETRY = RetryPolicy(attempts=3, max_wait_seconds=20.0)
REQUESTED_BY_TAG = "radiator/requested_by"
_OVER = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
HELP = "Команды: /sync — синхронизация с Tracker, /report — пересчёт отчётов, /status — статус"

google_sheets_job = dg.define_asset_job(
    "google_sheets",
    selection=dg.AssetSelection.assets(google_sheets_reports),
    description="Publishes the reports to the configured Google spreadsheet.",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[tracker_sync_job, reports_job],
    request_job=google_sheets_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each successful sync or reports run, publishes the reports to Sheets.",
)
def google_sheets_after_reports(context: dg.RunStatusSensorContext):
    reason = DeliverySettings().sheets_off()
    if reason is not None:
        return dg.SkipReason(reason)
    return dg.RunRequest(run_key=f"sheets:{context.dagster_run.run_id}")


# --------------------------------------------------------------------------- summary


def _pictures(instance: dg.DagsterInstance) -> dict[str, Path]:
    """The pictures the newest materialization of each report recorded (`picture_*`)."""
    found: dict[str, Path] = {}
    for name in REPORT_TABLES:
        event = instance.get_latest_materialization_event(dg.AssetKey(name))
        materialization = event.asset_materialization if event else None
        if materialization is None:
            continue
        for key, value in materialization.metadata.items():
            path = Path(str(getattr(value, "value", value)))
            if key.startswith("picture_") and path.is_file():
                found[key.removeprefix("picture_")] = path
    return found


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    return json.loads(cursor) if cursor else {}


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts what changed, the pictures and the CSV to Telegram after new reports.",
)
def telegram_reports_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
    telegram: TelegramResource,
) -> dg.SensorResult | dg.SkipReason:
    reason = telegram.settings().telegram_off()
    if reason is not None:
        return dg.SkipReason(reason)
    records = context.instance.fetch_materializations(dg.AssetKey(CSV_REPORT), limit=1).records
    state = _load_cursor(context.cursor)
    if not records or records[0].asset_materialization is None:
        return dg.SkipReason(f"{CSV_REPORT} has no materialization yet")
    record = records[0]
    if state.get("event") == record.storage_id:
        return dg.SkipReason(f"no report since the one sent (event {record.storage_id})")
    event = record.event_log_entry
    run = context.instance.get_run_by_id(event.run_id) if event.run_id else None
    if run is not None and run.status not in _OVER:
        return dg.SkipReason(f"run {run.run_id[:8]} is still building the reports")
    as_of_value = event.asset_materialization.metadata.get("as_of")
    as_of = parse_as_of(str(getattr(as_of_value, "value", ""))) if as_of_value else None
    if as_of is None:
        return dg.SkipReason(f"the newest {CSV_REPORT} materialization records no as_of")
    previous = Snapshot.from_json(state["snapshot"]) if "snapshot" in state else None
    engine = warehouse.engine()
    change = report_change(engine, tracker.metrics_config(), as_of, previous)
    with tempfile.TemporaryDirectory(prefix="radiator-telegram-") as tmp:
        attachments = Attachments(_pictures(context.instance), write_details_csv(engine, Path(tmp)))
        try:
            calls = send_report(
                telegram.client(policy=SENSOR_RETRY),
                telegram.chats(),
                summary_text(change),
                attachments,
            )
        except (TelegramError, RetryableError) as exc:
            context.log.warning(f"Telegram delivery failed: {exc}; the next tick sends again")
            return dg.SkipReason(f"Telegram delivery failed ({exc}); the next tick sends again")
    cursor = json.dumps({"event": record.storage_id, "snapshot": change.snapshot.to_json()})
    message = f"sent the report as of {as_of:%Y-%m-%d %H:%M} UTC ({calls} Bot API calls)"
    context.log.info(message)
    return dg.SensorResult(skip_reason=dg.SkipReason(message), cursor=cursor)


# --------------------------------------------------------------------------- commands


def run_status_text(instance: dg.DagsterInstance) -> str:
    """The newest run of the sync job and of the reports job, one line each."""
    lines = []
    for job in (tracker_sync_job.name, reports_job.name):
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=job), limit=1)
        if not records:
            lines.append(f"{job}: не запускался")
            continue
        record = records[0]
        when = record.end_time or record.start_time or record.create_timestamp.timestamp()
        at = record.dagster_run.status.value
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"{job}: {at} ({stamp}, run {record.dagster_run.run_id[:8]})")
    return "\n".join(lines)


def command_request(command: Command) -> dg.RunRequest | None:
    """The run a command asks for, keyed by its update (a retried tick starts none twice)."""
    tags = {REQUESTED_BY_TAG: f"telegram:{command.chat_id}"}
    key = f"telegram:{command.update_id}"
    if command.name == "sync":
        return dg.RunRequest(
            job_name=tracker_sync_job.name,
            run_key=key,
            run_config=AUTOMATION_RUN_CONFIG,
            partition_key=current_partition_key(),
            tags={**INCREMENTAL_RUN_TAGS, **tags},
        )
    if command.name == "report":
        return dg.RunRequest(job_name=reports_job.name, run_key=key, tags=tags)
    return None


def command_reply(command: Command, instance: dg.DagsterInstance) -> str:
    if command.name == "sync":
        return "Синхронизация с Tracker запрошена; отчёты придут после неё."
    if command.name == "report":
        return "Пересчёт отчётов запрошен."
    if command.name == "status":
        return run_status_text(instance)
    return HELP


@dg.sensor(
    jobs=[tracker_sync_job, reports_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs /sync and /report, answers /status, from the allowed Telegram chats.",
)
def telegram_commands_sensor(
    context: dg.SensorEvaluationContext, telegram: TelegramResource
) -> dg.SensorResult | dg.SkipReason:
    settings = telegram.settings()
    reason = settings.telegram_off() or (
        None if settings.telegram_commands else "TELEGRAM_COMMANDS is off: no commands"
    )
    if reason is not None:
        return dg.SkipReason(reason)
    client = telegram.client(policy=SENSOR_RETRY)
    offset = int(context.cursor) if context.cursor else None
    try:
        updates = client.get_updates(offset)
    except (TelegramError, RetryableError) as exc:
        context.log.warning(f"Telegram getUpdates failed: {exc}; the next tick asks again")
        return dg.SkipReason(f"Telegram getUpdates failed ({exc}); the next tick asks again")
    allowed = set(telegram.chats())
    requests: list[dg.RunRequest] = []
    replies: list[tuple[int, str]] = []
    for update in updates:
        command = parse_command(update)
        if command is None:
            continue
        if command.chat_id not in allowed:
            context.log.warning(
                f"ignored /{command.name} from chat {command.chat_id}: not in TELEGRAM_CHAT_IDS"
            )
            continue
        request = command_request(command)
        if request is not None:
            requests.append(request)
        replies.append((command.chat_id, command_reply(command, context.instance)))
    for chat_id, text in replies:
        try:
            client.send_message(chat_id, text)
        except (TelegramError, RetryableError) as exc:  # the run is requested all the same
            context.log.warning(f"could not answer chat {chat_id}: {exc}")
    cursor = next_offset(updates, offset)
    return dg.SensorResult(
        run_requests=requests,
        cursor=None if cursor is None else str(cursor),
        skip_reason=None
        if requests
        else dg.SkipReason(f"{len(updates)} update(s), {len(replies)} answered, no run asked"),
    )
