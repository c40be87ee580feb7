"""Sensors of delivery: Sheets after reports, the Telegram summary, the Telegram commands.

* `google_sheets_after_reports`: a run-status sensor; each successful run of the sync or
  reports job (both rebuild the reports) starts the `google_sheets` job, keyed by that
  run, so a failure to publish is that job's failure, never the reports'.
* `telegram_reports_sensor`: when report_ttm_details has a materialization the cursor has
  not seen, and its run is over, posts what changed (`radiator_assets.delivery.
  notification`), the pictures and the details CSV to each chat. The pictures must be
  drawn from the tables it delivers: those of a `report_pictures` materialization newer
  than the report's (the daily `reports` run draws them after its tables); else, as after
  the sensor's `tracker_sync` runs (tables only), it requests a `pictures` run for that
  report (tag `radiator/pictures_for`) and waits for it; a pictures run that ended
  without drawing them lets the report go without pictures, never with stale ones. The
  cursor holds the materialization's storage id, the snapshot the next change is
  measured against and, until every chat has it, the message and how far each chat got
  (`ChatDelivery`): a later tick sends each chat only what it has not had. A chat that
  refuses for good is skipped for that report; a 429 defers only its chat.
* `telegram_commands_sensor`: polls `getUpdates` with the update offset as its cursor;
  `/sync` and `/report` from an allowed chat request a run (keyed by the update, so a
  retried tick never starts two), `/status` answers with the newest runs, `/help` and
  `/start` with the commands; a command addressed to another bot, an unknown one, one
  older than `COMMAND_MAX_AGE` (a first tick sees up to 24 h of updates) or one from any
  other chat is logged and ignored. The offset moves past every update seen.

Each tick has one deadline (`TICK_SECONDS`, under Dagster's 60 s sensor timeout) that
covers its requests' timeouts (`SENSOR_TIMEOUT` each at most) and retry waits; what is
left goes to the next tick. All three skip with the reason while their service is not
configured.
"""

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from radiator_assets.assets.delivery import google_sheets_reports
from radiator_assets.assets.partitions import current_partition_key
from radiator_assets.assets.report_pictures import ASSET_NAME as PICTURES_ASSET
from radiator_assets.assets.reports import parse_as_of
from radiator_assets.automation.jobs import INCREMENTAL_RUN_TAGS, pictures_job, tracker_sync_job
from radiator_assets.automation.report_schedules import reports_job
from radiator_assets.automation.sensors import AUTOMATION_RUN_CONFIG
from radiator_assets.delivery.deliver import (
    Attachments,
    ChatDelivery,
    deliver_to_chats,
    report_steps,
)
from radiator_assets.delivery.notification import (
    CSV_REPORT,
    Snapshot,
    report_change,
    summary_text,
    write_details_csv,
)
from radiator_assets.delivery.retry import Deadline, RetryableError, RetryPolicy
from radiator_assets.delivery.telegram import (
    COMMANDS,
    HELP_COMMANDS,
    ChatId,
    Command,
    TelegramClient,
    TelegramError,
    next_offset,
    parse_command,
)
from radiator_assets.resources import TelegramResource, TrackerResource, WarehouseResource
from radiator_assets.settings import DeliverySettings

#: a tick must answer within Dagster's sensor timeout (60 s by default)
TICK_SECONDS = 45.0
SENSOR_TIMEOUT = 10.0
SENSOR_RETRY = RetryPolicy(attempts=3, max_wait_seconds=20.0)
#: a command older than this is not obeyed (Telegram keeps updates for 24 h)
COMMAND_MAX_AGE = 600.0
REQUESTED_BY_TAG = "radiator/requested_by"
#: tag of a `pictures` run the summary sensor requested: the report event it draws for
PICTURES_FOR_TAG = "radiator/pictures_for"
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


def recorded_pictures(materialization: dg.AssetMaterialization) -> dict[str, Path]:
    """The pictures a `report_pictures` materialization recorded (`picture_*`) that exist."""
    found: dict[str, Path] = {}
    for key, value in materialization.metadata.items():
        path = Path(str(getattr(value, "value", value)))
        if key.startswith("picture_") and path.is_file():
            found[key.removeprefix("picture_")] = path
    return found


@dataclass(frozen=True)
class PicturesPending:
    """The report's pictures are not drawn yet: why, and the run to request (if any)."""

    reason: str
    request: dg.RunRequest | None = None


def pictures_of_report(
    instance: dg.DagsterInstance, event: int
) -> dict[str, Path] | PicturesPending:
    """The pictures drawn from the tables of report event `event`: those of the newest
    `report_pictures` materialization when it came after the event. Else the `pictures`
    run tagged for this event: none yet, request it; under way, wait; over without a
    newer materialization (failed, cancelled), no pictures (never older ones)."""
    newest = instance.fetch_materializations(dg.AssetKey(PICTURES_ASSET), limit=1).records
    if newest and newest[0].storage_id > event and newest[0].asset_materialization:
        return recorded_pictures(newest[0].asset_materialization)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PICTURES_FOR_TAG: str(event)}), limit=1)
    if not runs:
        request = dg.RunRequest(
            job_name=pictures_job.name,
            run_key=f"pictures:{event}",
            tags={PICTURES_FOR_TAG: str(event)},
        )
        return PicturesPending(f"drawing the pictures of report event {event} first", request)
    if runs[0].status not in _OVER:
        return PicturesPending(f"run {runs[0].run_id[:8]} is drawing the report's pictures")
    return {}


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    return json.loads(cursor) if cursor else {}


@dataclass(frozen=True)
class TickClock:
    """Where the sensors' ticks read the time (epoch seconds) and wait; tests replace
    `TICK_CLOCK` with a fake one, so no test waits or reads the wall clock."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


TICK_CLOCK = TickClock()


def tick_client(telegram: TelegramResource) -> TelegramClient:
    """A Bot API client for one tick: short requests, all within the tick's deadline."""
    clock = TICK_CLOCK
    return telegram.client(
        policy=SENSOR_RETRY,
        timeout=SENSOR_TIMEOUT,
        sleep=clock.sleep,
        deadline=Deadline(TICK_SECONDS, clock.now),
    )


@dataclass(frozen=True)
class PendingReport:
    """A report event being delivered: its message and each chat's progress."""

    event: int
    text: str
    chats: dict[str, ChatDelivery]

    @classmethod
    def from_cursor(cls, state: dict[str, Any]) -> "PendingReport | None":
        pending = state.get("pending")
        if pending is None:
            return None
        chats = {k: ChatDelivery.from_json(v) for k, v in pending["chats"].items()}
        return cls(int(state["event"]), str(pending["text"]), chats)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "chats": {k: v.to_json() for k, v in self.chats.items()}}


def _delivery_summary(chats: tuple[ChatId, ...], pending: "PendingReport", steps: int) -> str:
    done = [c for c in chats if pending.chats.get(str(c), ChatDelivery()).sent >= steps]
    lines = [f"{len(done)} of {len(chats)} chat(s) have it"]
    for chat in chats:
        state = pending.chats.get(str(chat), ChatDelivery())
        if state.skipped:
            lines.append(f"chat {chat} skipped: {state.skipped}")
        elif state.sent < steps:
            lines.append(f"chat {chat}: {state.sent} of {steps} calls, the rest later")
    return "; ".join(lines)


@dg.sensor(
    jobs=[pictures_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Posts what changed, the pictures and the CSV to Telegram after new reports "
        "(requesting a pictures run first when the pictures are older than the tables)."
    ),
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
    if state.get("event") == record.storage_id and "pending" not in state:
        return dg.SkipReason(f"no report since the one sent (event {record.storage_id})")
    event = record.event_log_entry
    run = context.instance.get_run_by_id(event.run_id) if event.run_id else None
    if run is not None and run.status not in _OVER:
        return dg.SkipReason(f"run {run.run_id[:8]} is still building the reports")
    as_of_value = event.asset_materialization.metadata.get("as_of")
    as_of = parse_as_of(str(getattr(as_of_value, "value", ""))) if as_of_value else None
    if as_of is None:
        return dg.SkipReason(f"the newest {CSV_REPORT} materialization records no as_of")
    pictures = pictures_of_report(context.instance, record.storage_id)
    if isinstance(pictures, PicturesPending):
        context.log.info(pictures.reason)
        if pictures.request is None:
            return dg.SkipReason(pictures.reason)
        return dg.SensorResult(run_requests=[pictures.request], cursor=context.cursor)
    if not pictures:
        context.log.warning(f"no pictures were drawn after report event {record.storage_id}")
    engine = warehouse.engine()
    pending = PendingReport.from_cursor(state) if state.get("event") == record.storage_id else None
    snapshot = state.get("snapshot")
    if pending is None:  # a new report: measured against the last one notified
        previous = Snapshot.from_json(snapshot) if snapshot else None
        change = report_change(engine, tracker.metrics_config(), as_of, previous)
        pending = PendingReport(record.storage_id, summary_text(change), {})
        snapshot = change.snapshot.to_json()
    chats = telegram.chats()
    with tempfile.TemporaryDirectory(prefix="radiator-telegram-") as tmp:
        attachments = Attachments(pictures, write_details_csv(engine, Path(tmp)))
        steps = report_steps(pending.text, attachments)
        problem = None
        try:
            deliver_to_chats(tick_client(telegram), chats, steps, pending.chats, TICK_CLOCK.now)
        except TelegramError as exc:  # the token was refused: no chat is to blame
            problem = f"Telegram refused the bot ({exc}); the next tick sends again"
            context.log.warning(problem)
    finished = all(pending.chats.get(str(c), ChatDelivery()).finished(len(steps)) for c in chats)
    cursor: dict[str, Any] = {"event": record.storage_id, "snapshot": snapshot}
    if not finished:
        cursor["pending"] = pending.to_json()
    message = (
        f"the report as of {as_of:%Y-%m-%d %H:%M} UTC: "
        f"{_delivery_summary(chats, pending, len(steps))}"
    )
    context.log.info(message)
    return dg.SensorResult(skip_reason=dg.SkipReason(problem or message), cursor=json.dumps(cursor))


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


def command_reply(command: Command, instance: dg.DagsterInstance) -> str | None:
    """The answer to a command; None for an unknown one (not answered at all)."""
    if command.name == "sync":
        return "Синхронизация с Tracker запрошена; отчёты придут после неё."
    if command.name == "report":
        return "Пересчёт отчётов запрошен."
    if command.name == "status":
        return run_status_text(instance)
    if command.name in HELP_COMMANDS:
        return HELP
    return None


class OwnUsername:
    """The bot's username, asked (`getMe`) at most once per tick and only when a command
    names a bot."""

    def __init__(self, client: TelegramClient) -> None:
        self._client = client
        self._username: str | None = None

    def __call__(self) -> str:
        if self._username is None:
            self._username = str(self._client.get_me().get("username", ""))
        return self._username


def ignored_because(
    command: Command, chats: tuple[ChatId, ...], own: OwnUsername, now: float
) -> str | None:
    """Why `command` is not obeyed, or None when it is."""
    if command.name not in COMMANDS + HELP_COMMANDS:
        return "not a command of this bot"
    if command.sent_at is None or now - command.sent_at > COMMAND_MAX_AGE:
        return f"older than {COMMAND_MAX_AGE / 60:.0f} minutes"
    if not command.allowed(chats):
        return "not in TELEGRAM_CHAT_IDS"
    if command.bot is not None and command.bot.lower() != own().lower():
        return f"addressed to @{command.bot}"
    return None


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
    client = tick_client(telegram)
    offset = int(context.cursor) if context.cursor else None
    try:
        updates = client.get_updates(offset)
    except (TelegramError, RetryableError) as exc:
        context.log.warning(f"Telegram getUpdates failed: {exc}; the next tick asks again")
        return dg.SkipReason(f"Telegram getUpdates failed ({exc}); the next tick asks again")
    chats, own, now = telegram.chats(), OwnUsername(client), TICK_CLOCK.now()
    requests: list[dg.RunRequest] = []
    replies: list[tuple[int, str]] = []
    for update in updates:
        command = parse_command(update)
        if command is None:
            continue
        try:
            why = ignored_because(command, chats, own, now)
        except (TelegramError, RetryableError) as exc:
            why = f"the bot's own username is unknown ({exc})"
        if why is not None:
            context.log.warning(f"ignored /{command.name} from chat {command.chat_id}: {why}")
            continue
        request = command_request(command)
        if request is not None:
            requests.append(request)
        reply = command_reply(command, context.instance)
        if reply is not None:
            replies.append((command.chat_id, reply))
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
