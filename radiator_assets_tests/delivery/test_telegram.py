"""Telegram delivery against the loopback Bot API fake: the exact calls for a fixture
change, 429 retries, the summary sensor's cursor, commands from allowed chats only, and
the CLI's dry run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dagster as dg
import pytest
import requests
from sqlalchemy.engine import Engine

from radiator_assets.automation import delivery_sensors
from radiator_assets.automation.delivery_sensors import (
    HELP,
    SENSOR_TIMEOUT,
    TICK_SECONDS,
    TickClock,
    telegram_commands_sensor,
    telegram_reports_sensor,
)
from radiator_assets.delivery.command import run as deliver
from radiator_assets.delivery.deliver import Attachments, send_report
from radiator_assets.delivery.notification import (
    Snapshot,
    report_change,
    summary_text,
    write_details_csv,
)
from radiator_assets.delivery.retry import Deadline, RetryableError, RetryPolicy
from radiator_assets.delivery.telegram import TelegramClient
from radiator_assets.resources import TelegramResource, TrackerResource, WarehouseResource
from radiator_assets_tests.delivery.conftest import BOT_TOKEN
from radiator_assets_tests.delivery.fakes import Answer, FakeSheets, FakeTelegram, photo_bytes
from radiator_assets_tests.reports import fixture_ten

PREVIOUS = Snapshot(
    as_of="2025-03-01T00:00:00+00:00",
    over=["CPO-1:devlt", "CPO-2:ttm"],
    ttm_p85={"Team Alpha": 20.0, "Team Gamma": 40.0},
    period="Q1 2025",
)


def client(fake: FakeTelegram, sleeps: list[float]) -> TelegramClient:
    return TelegramClient(BOT_TOKEN, fake.url, policy=RetryPolicy(attempts=3), sleep=sleeps.append)


def test_the_change_since_the_previous_report(ten: Engine) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)

    # finished in (03-01, 04-01]: CPO-3 on 03-10 (TTM 37); CPO-4 finished 02-20, before
    assert change.finished == [("CPO-3", "Team Alpha", 37)]
    # thresholds ttm 30, ttd 8, tail 6, devlt 15; CPO-1's DevLT 10 is not over
    assert [i.key for i in change.new_over] == [
        "CPO-3:devlt",
        "CPO-3:tail",
        "CPO-3:ttd",
        "CPO-3:ttm",
        "CPO-4:devlt",
        "CPO-4:tail",
        "CPO-4:ttd",
        "CPO-4:ttm",
        "CPO-5:tail",
        "CPO-5:ttm",
        "CPO-7:devlt",  # the open in-development stay: 17 days at as_of
    ]


def test_the_exact_bot_api_calls_for_a_change(
    ten: Engine, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)
    text = summary_text(change)
    picture = tmp_path / "ttm_heatmap.png"
    picture.write_bytes(photo_bytes())
    csv = write_details_csv(ten, tmp_path)
    sleeps: list[float] = []

    calls = send_report(
        client(fake_telegram, sleeps), [111], text, Attachments({"heatmap": picture}, csv)
    )

    assert calls == 3
    message, photo, document = fake_telegram.calls()
    assert (message.method, message.fields) == ("sendMessage", {"chat_id": "111", "text": text})
    assert (photo.method, photo.fields) == ("sendPhoto", {"chat_id": "111", "caption": "heatmap"})
    assert photo.files == {"photo": ("ttm_heatmap.png", photo_bytes())}
    assert (document.method, document.fields) == (
        "sendDocument",
        {"chat_id": "111", "caption": "ttm_details.csv"},
    )
    name, body = document.files["document"]
    assert name == "ttm_details.csv"
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Ключ задачи,Название,Автор")
    assert [line.split(",")[0] for line in lines[1:]] == [
        "CPO-1",
        "CPO-2",
        "CPO-3",
        "CPO-4",
        "CPO-5",
        "CPO-7",
    ]
    assert all(r.path.startswith(f"/bot{BOT_TOKEN}/") for r in fake_telegram.requests)
    assert sleeps == []


def test_summary_text(ten: Engine) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)
    text = summary_text(change)
    lines = text.splitlines()
    assert lines[:3] == [
        "Отчёты обновлены: на 2025-04-01 00:00 UTC",
        "Завершено задач с прошлого отчёта: 1",
        "• CPO-3 (Team Alpha), TTM 37",
    ]
    assert lines[3] == "Новые выше порога: 11"
    assert lines[4] == "• CPO-3: DevLT 17 > 15"
    assert lines[-3:] == [
        "TTM p85 по командам (Q1 2025):",
        f"• Team Alpha: {change.ttm_p85[0].value:.0f} ↑ (было 20)",
        "• Team Gamma: 38 ↓ (было 40)",
    ]


def test_a_429_is_retried_after_telegrams_retry_after(
    fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    fake_telegram.refusals.append(
        Answer(
            429,
            {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}},
        )
    )
    sleeps: list[float] = []

    client(fake_telegram, sleeps).send_message(111, "hello")

    assert sleeps == [3]
    # the warning names the method once
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "Telegram sendMessage answered 429; retrying in 3.0 s"
    ]
    assert [(c.method, c.fields["text"]) for c in fake_telegram.calls()] == [
        ("sendMessage", "hello"),
        ("sendMessage", "hello"),
    ]


NOW = 1_764_475_200.0  # 2025-11-30 04:00 UTC, the fake clock's start


class FakeClock:
    """Epoch seconds that move only when something sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.time = NOW
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The sensors' tick clock, faked."""
    fake = FakeClock()
    monkeypatch.setattr(delivery_sensors, "TICK_CLOCK", TickClock(fake.now, fake.sleep))
    return fake


def _update(update_id: int, chat_id: int, text: str, age: float = 60) -> dict:
    message = {"date": int(NOW - age), "chat": {"id": chat_id, "type": "group"}, "text": text}
    return {"update_id": update_id, "message": message}


def test_commands_from_allowed_chats_only(
    delivery_env: None, fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    fake_telegram.updates = [
        _update(41, 999, "/sync"),  # not allowed: ignored
        _update(42, 111, "/sync@radiator_bot"),
        _update(43, 999, "/report"),
        _update(44, -100222, "hello"),
    ]
    context = dg.build_sensor_context(
        cursor="41",
        resources={"telegram": TelegramResource()},
        instance=dg.DagsterInstance.ephemeral(),
    )

    result = telegram_commands_sensor(context)

    assert [(r.job_name, r.run_key) for r in result.run_requests] == [
        ("tracker_sync", "telegram:42")
    ]
    assert result.run_requests[0].tags["radiator/requested_by"] == "telegram:111"
    assert result.cursor == "45"
    calls = fake_telegram.calls()
    assert [(c.method, c.fields.get("chat_id"), c.fields.get("offset")) for c in calls] == [
        ("getUpdates", None, "41"),
        ("getMe", None, None),  # /sync@radiator_bot: is that this bot? It is
        ("sendMessage", "111", None),
    ]


def test_an_unauthorised_chat_starts_nothing(
    delivery_env: None, fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    fake_telegram.updates = [_update(7, 999, "/sync"), _update(8, 999, "/status")]
    context = dg.build_sensor_context(
        resources={"telegram": TelegramResource()}, instance=dg.DagsterInstance.ephemeral()
    )

    result = telegram_commands_sensor(context)

    assert result.run_requests == []
    assert result.cursor == "9"
    assert [c.method for c in fake_telegram.calls()] == ["getUpdates"]


def _report_resources(engine: Engine) -> dict:
    return {
        "warehouse": WarehouseResource(
            database_url=engine.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "telegram": TelegramResource(),
    }


def _pictures_event(instance: dg.DagsterInstance, picture: Path | None = None) -> None:
    """A report_pictures materialization (recording `picture` as `heatmap`)."""
    metadata: dict = {"redrawn": 0 if picture is None else 1}
    if picture is not None:
        metadata["picture_heatmap"] = dg.MetadataValue.path(str(picture))
    instance.report_runless_asset_event(
        dg.AssetMaterialization("report_pictures", metadata=metadata)
    )


def _report_event(
    instance: dg.DagsterInstance, picture: Path | None = None, *, drawn: bool = True
) -> int:
    """A report_ttm_details materialization, then (`drawn`) the pictures drawn from it;
    returns the report event's storage id."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "report_ttm_details", metadata={"as_of": "2025-04-01T00:00:00+00:00"}
        )
    )
    records = instance.fetch_materializations(dg.AssetKey("report_ttm_details"), limit=1).records
    if drawn:
        _pictures_event(instance, picture)
    return records[0].storage_id


def _tick(engine: Engine, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=_report_resources(engine)
    )
    return telegram_reports_sensor(context)


def _sent(fake: FakeTelegram, chat: str) -> list[str]:
    return [c.method for c in fake.calls() if c.fields.get("chat_id") == chat]


def test_the_summary_sensor_sends_each_report_once_and_defers_a_failing_chat(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    _report_event(instance)
    # chat 111's first message meets 500s: retried after 1 and 2 s, then deferred
    fake_telegram.refusals.extend([Answer(500, {"ok": False})] * 3)

    first = _tick(ten, instance, None)

    assert clock.sleeps == [1.0, 2.0]
    # two chats: the summary and the details CSV each (no picture was recorded)
    assert _sent(fake_telegram, "111") == ["sendMessage"] * 3
    assert _sent(fake_telegram, "-100222") == ["sendMessage", "sendDocument"]
    state = json.loads(first.cursor)
    assert state["pending"]["chats"] == {
        "111": {"sent": 0, "not_before": NOW + 3 + 60},
        "-100222": {"sent": 2},
    }
    assert first.skip_reason.skip_message == (
        "the report as of 2025-04-01 00:00 UTC: 1 of 2 chat(s) have it; "
        "chat 111: 0 of 2 calls, the rest later"
    )
    text = fake_telegram.calls()[0].fields["text"]
    assert text.splitlines()[:2] == [
        "Отчёты обновлены: на 2025-04-01 00:00 UTC",
        "Завершено задач с прошлого отчёта: 0",
    ]

    early = _tick(ten, instance, first.cursor)  # before chat 111's not_before: nothing
    assert len(fake_telegram.calls()) == 5 and early.cursor == first.cursor

    clock.time += 61
    sent = _tick(ten, instance, early.cursor)

    assert _sent(fake_telegram, "111") == ["sendMessage"] * 4 + ["sendDocument"]
    assert _sent(fake_telegram, "-100222") == ["sendMessage", "sendDocument"]
    assert fake_telegram.calls()[5].fields["text"] == text  # the same message
    state = json.loads(sent.cursor)
    assert "pending" not in state
    assert state["snapshot"]["as_of"] == "2025-04-01T00:00:00+00:00"

    again = _tick(ten, instance, sent.cursor)
    assert isinstance(again, dg.SkipReason)
    assert len(fake_telegram.calls()) == 7


def test_a_chat_that_refuses_for_good_is_skipped_and_the_others_get_the_report_once(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    kicked = "Forbidden: bot was kicked from the supergroup chat"
    fake_telegram.refusing.append(
        (
            lambda call: call.fields.get("chat_id") == "-100222",
            Answer(403, {"ok": False, "error_code": 403, "description": kicked}),
        )
    )
    instance = dg.DagsterInstance.ephemeral()
    _report_event(instance)

    cursor = None
    for _ in range(3):
        result = _tick(ten, instance, cursor)
        cursor = result.cursor if isinstance(result, dg.SensorResult) else cursor
        clock.time += 120

    assert _sent(fake_telegram, "111") == ["sendMessage", "sendDocument"]
    assert _sent(fake_telegram, "-100222") == ["sendMessage"]  # refused once, not again
    assert "pending" not in json.loads(cursor)
    assert clock.sleeps == []


def test_a_429_longer_than_the_tick_defers_only_the_rest_of_that_chat(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "111")
    picture = tmp_path / "heatmap.png"
    picture.write_bytes(photo_bytes())
    flood = Answer(429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 35}})
    fake_telegram.refusals.extend([Answer(200, {"ok": True, "result": {}}), flood])
    instance = dg.DagsterInstance.ephemeral()
    _report_event(instance, picture)

    first = _tick(ten, instance, None)
    clock.time += 10
    early = _tick(ten, instance, first.cursor)
    clock.time += 26
    done = _tick(ten, instance, early.cursor)

    # 35 s is over the sensor's 20 s of waiting: no sleep, the photo waits for a later tick
    assert clock.sleeps == []
    assert json.loads(first.cursor)["pending"]["chats"] == {
        "111": {"sent": 1, "not_before": NOW + 35}
    }
    assert _sent(fake_telegram, "111") == [
        "sendMessage",
        "sendPhoto",  # 429
        "sendPhoto",
        "sendDocument",
    ]
    assert "pending" not in json.loads(done.cursor)


def test_pictures_older_than_the_report_are_drawn_first_never_sent(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync builds tables only: the pictures recorded before its report are stale. The
    sensor requests a pictures run for that report and sends once it has drawn them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "111")
    stale, fresh = tmp_path / "stale.png", tmp_path / "fresh.png"
    stale.write_bytes(photo_bytes())
    fresh.write_bytes(photo_bytes())
    instance = dg.DagsterInstance.ephemeral()
    _pictures_event(instance, stale)  # the daily run's, before the sync
    event = _report_event(instance, drawn=False)  # the sensor's sync: tables only

    waiting = _tick(ten, instance, None)

    assert fake_telegram.calls() == []
    assert [(r.job_name, r.run_key, r.tags) for r in waiting.run_requests] == [
        ("pictures", f"pictures:{event}", {"radiator/pictures_for": str(event)})
    ]
    assert waiting.cursor is None

    _pictures_event(instance, fresh)  # the requested run drew them
    sent = _tick(ten, instance, waiting.cursor)

    assert _sent(fake_telegram, "111") == ["sendMessage", "sendPhoto", "sendDocument"]
    photo = next(c for c in fake_telegram.calls() if c.method == "sendPhoto")
    assert photo.files["photo"][0] == "fresh.png"
    assert json.loads(sent.cursor)["event"] == event


def test_a_report_whose_pictures_run_failed_goes_without_pictures(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "111")
    stale = tmp_path / "stale.png"
    stale.write_bytes(photo_bytes())
    instance = dg.DagsterInstance.ephemeral()
    _pictures_event(instance, stale)
    event = _report_event(instance, drawn=False)

    @dg.op
    def draw_fails() -> None:
        raise RuntimeError("no space left on device")

    @dg.job
    def pictures() -> None:
        draw_fails()

    run = pictures.execute_in_process(
        instance=instance, tags={"radiator/pictures_for": str(event)}, raise_on_error=False
    )
    assert not run.success

    result = _tick(ten, instance, None)

    assert result.run_requests == []
    assert _sent(fake_telegram, "111") == ["sendMessage", "sendDocument"]  # not the stale one
    assert "pending" not in json.loads(result.cursor)


class HungSession(requests.Session):
    """Each request reaches the fake, then counts as hung for its whole timeout: the fake
    clock moves by it and the request times out."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.timeouts: list[float] = []

    def post(self, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
        requests.post(url, **kwargs)  # type: ignore[arg-type]
        timeout = float(kwargs["timeout"])  # type: ignore[arg-type]
        self.timeouts.append(timeout)
        self.clock.time += timeout
        raise requests.ReadTimeout("read timed out")


def test_a_hung_api_ends_the_tick_within_its_deadline(
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = HungSession(clock)
    monkeypatch.setattr(requests.Session, "post", lambda _self, url, **kw: session.post(url, **kw))
    context = dg.build_sensor_context(
        resources={"telegram": TelegramResource()}, instance=dg.DagsterInstance.ephemeral()
    )

    result = telegram_commands_sensor(context)

    assert "getUpdates failed" in result.skip_message
    assert session.timeouts == [SENSOR_TIMEOUT] * 3 and clock.sleeps == [1.0, 2.0]
    assert clock.time - NOW <= TICK_SECONDS


def test_the_deadline_shortens_the_last_request_and_ends_the_retries(
    fake_telegram: FakeTelegram,
) -> None:
    fake = FakeClock()
    session = HungSession(fake)
    client = TelegramClient(
        BOT_TOKEN,
        fake_telegram.url,
        timeout=10,
        policy=RetryPolicy(attempts=10, max_wait_seconds=100),
        sleep=fake.sleep,
        session=session,
        deadline=Deadline(45, fake.now),
    )

    with pytest.raises(RetryableError, match="Telegram getUpdates: ReadTimeout"):
        client.get_updates(None)

    # 10 + 1 + 10 + 2 + 10 + 4 = 37 s: 8 s left for the fourth try, none for a fifth
    assert session.timeouts == [10, 10, 10, 8]
    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert fake.time - NOW == 45


def test_commands_for_other_bots_old_ones_and_unknown_ones_are_ignored(
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "-100222, @team_channel")
    fake_telegram.updates = [
        _update(500, -100222, "/sync", age=20 * 3600),  # typed 20 h ago: a first tick's replay
        _update(501, -100222, "/sync@some_other_bot"),
        _update(502, -100222, "/var/log/syslog is full"),
        _update(503, -100222, "/start@another_bot"),
        _update(504, -100222, "/deploy"),
        _update(505, -100222, "/HELP@Radiator_Bot"),
        _update(506, -100222, "/report now"),
    ]
    context = dg.build_sensor_context(
        resources={"telegram": TelegramResource()}, instance=dg.DagsterInstance.ephemeral()
    )

    result = telegram_commands_sensor(context)

    assert [(r.job_name, r.run_key) for r in result.run_requests] == [("reports", "telegram:506")]
    replies = [(c.method, c.fields.get("text")) for c in fake_telegram.calls()[1:]]
    assert replies == [
        ("getMe", None),  # once, for the three commands that name a bot
        ("sendMessage", HELP),
        ("sendMessage", "Пересчёт отчётов запрошен."),
    ]
    assert result.cursor == "507"


def test_a_chat_username_is_a_chat_and_a_bad_one_skips_with_the_reason(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "@team_channel")
    instance = dg.DagsterInstance.ephemeral()
    _report_event(instance)

    _tick(ten, instance, None)

    assert _sent(fake_telegram, "@team_channel") == ["sendMessage", "sendDocument"]

    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "team channel")
    context = dg.build_sensor_context(
        resources={"telegram": TelegramResource()}, instance=dg.DagsterInstance.ephemeral()
    )
    skipped = telegram_commands_sensor(context)
    assert skipped.skip_message == (
        "TELEGRAM_CHAT_IDS: 'team channel' is not a Telegram chat (an integer id or an "
        "@username): Telegram delivery is off"
    )


def test_unconfigured_telegram_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_CHAT_IDS", raising=False)
    context = dg.build_sensor_context(resources={"telegram": TelegramResource()})
    result = telegram_commands_sensor(context)
    assert result.skip_message == (
        "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_IDS not set: Telegram delivery is off"
    )


@pytest.mark.parametrize("target", ["sheets", "telegram"])
def test_dry_run_prints_the_plan_and_sends_nothing(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    fake_sheets: FakeSheets,
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "ttm_heatmap.png").write_bytes(photo_bytes())
    args = argparse.Namespace(target=target, dry_run=True, as_of="2025-04-01T00:00:00+00:00")

    assert deliver(args, ten, fixture_ten.config(), tmp_path) == 0

    out = capsys.readouterr().out.splitlines()
    assert fake_telegram.requests == [] and fake_sheets.requests == []
    if target == "sheets":
        assert out[:3] == [
            "dry run, nothing sent:",
            "spreadsheet sheet-abc:",
            "  sheet 'ttm_details': 7 rows (header included) x 25 columns, then "
            "updateSheetProperties, repeatCell x4, setBasicFilter, addConditionalFormatRule x4",
        ]
        assert out[3].startswith("  sheet 'ttm_pivots': 48 rows")
    else:
        assert out[:3] == [
            "dry run, nothing sent:",
            "chat 111: sendMessage",
            "  Отчёты обновлены: на 2025-04-01 00:00 UTC",
        ]
        # drawn from the tables it delivers (kept when unchanged), not the stray file
        assert "chat 111: sendPhoto heatmap_p85 (ttm_heatmap_p85.png)" in out
        assert "chat 111: sendPhoto trends (trends.png)" in out
        assert not any("sendPhoto ttm_heatmap " in line for line in out)
        assert (tmp_path / "status_activity.png").read_bytes()[:4] == b"\x89PNG"
        assert out[-1] == "chat -100222: sendDocument ttm_details.csv"


def test_dry_run_without_chats_says_so(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "")
    args = argparse.Namespace(target="telegram", dry_run=True, as_of="2025-04-01T00:00:00+00:00")

    assert deliver(args, ten, fixture_ten.config(), tmp_path) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "dry run, nothing sent:",
        "no chats configured (TELEGRAM_CHAT_IDS): nothing would be sent",
        "Отчёты обновлены: на 2025-04-01 00:00 UTC",
    ]
    assert not any("chat 0" in line for line in out)
    assert fake_telegram.requests == []
