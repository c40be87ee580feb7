"""`radiator demo`: the whole product on one machine, with nothing installed but Python.

It starts the Tracker emulator with a generated organisation, uses the
embedded PostgreSQL (or `RADIATOR_DATABASE_URL`), materializes every asset,
lets the emulated organisation move on a day, syncs again incrementally (tables
only, as the sensor's syncs), draws the pictures (a `pictures` run, as
`radiator pictures`), prints what changed, the TTM summary and the pictures' paths,
and leaves the runs in the Dagster instance under `$RADIATOR_HOME/dagster` for
`dagster dev` to show.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from radiator_assets.cli_output import print_sync_summary, print_table
from radiator_assets.emulator import Org, TrackerEmulator, generate_org
from radiator_assets.runner import SyncOutcome, dagster_home, run_pictures, run_sync
from radiator_assets.settings import get_settings
from radiator_assets.storage.engine import display_url, get_engine
from radiator_assets.storage.migrations import ensure_migrated

DEMO_TOKEN = "demo-token"
DEMO_ORG_ID = "demo-org"
DEMO_QUERY = "Queue: CPO, FULLSTACK"
SELECTION = ["group:tracker", "group:reports"]


@dataclass(frozen=True)
class DemoOptions:
    issues: int = 400
    seed: int = 7
    span_days: int = 300
    changed_share: float = 0.05


def demo_organisation(options: DemoOptions, now: datetime) -> tuple[Org, date]:
    """The demo's generated organisation, its clock ending at `now`, and its first day
    (where the changelog's partitions start)."""
    org = generate_org(
        seed=options.seed, n_issues=options.issues, now=now, span_days=options.span_days
    )
    return org, (now - timedelta(days=options.span_days + 1)).date()


def demo_tracker_env(emulator: TrackerEmulator, first_day: date) -> dict[str, str]:
    """The variables a user would set to point radiator at the demo's emulator, the
    history starting on its organisation's first day (`TRACKER_CLOUD_ORG_ID` unset)."""
    return {
        "TRACKER_API_URL": emulator.base_url,
        "TRACKER_TOKEN": DEMO_TOKEN,
        "TRACKER_ORG_ID": DEMO_ORG_ID,
        "TRACKER_QUERY": DEMO_QUERY,
        "RADIATOR_HISTORY_START": first_day.isoformat(),
    }


def _point_settings_at(emulator: TrackerEmulator, first_day: date) -> None:
    """The demo's Tracker is the emulator: this process's settings read its variables."""
    os.environ.update(demo_tracker_env(emulator, first_day))
    os.environ.pop("TRACKER_CLOUD_ORG_ID", None)
    get_settings.cache_clear()


def _sync(title: str, since: date | None) -> SyncOutcome:
    print(f"\n== {title}")
    outcome = run_sync(selection=SELECTION, since=since)
    print_sync_summary(outcome)
    if not outcome.success:
        raise SystemExit(1)  # the summary printed each failed step and the log path
    return outcome


def _ttm_summary(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT period, name AS team, tasks, ttm_median, ttm_p85, ttm_max, ttm_over, "
                "tail_p85, devlt_p85 FROM report_ttm_summary WHERE dimension = 'team' "
                "ORDER BY period_start DESC, name LIMIT 12"
            )
        ).all()
    print("\n== TTM summary per team (days; newest periods first)")
    print_table(
        [
            "period",
            "team",
            "tasks",
            "TTM median",
            "TTM p85",
            "TTM max",
            "over",
            "Tail p85",
            "DevLT p85",
        ],
        [list(r) for r in rows],
    )


def _pictures() -> list[str]:
    """Draw the pictures from the tables the syncs built: their paths."""
    outcome = run_pictures()
    if not outcome.success:
        for failure in outcome.failures:
            print(f"radiator: error: {failure.message} (step {failure.step})", file=sys.stderr)
        raise SystemExit(1)
    return sorted(str(path) for path in outcome.pictures.values())


def run_demo(options: DemoOptions) -> int:
    settings = get_settings()
    home = settings.home.resolve()
    print(f"radiator demo: data under {home}")
    engine = get_engine()
    ensure_migrated(engine)
    print(f"warehouse: {display_url(engine.url)}")

    # The emulated organisation's clock ends yesterday so its next day is today.
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    org, first_day = demo_organisation(options, now)
    with TrackerEmulator(org, token=DEMO_TOKEN, org_id=DEMO_ORG_ID) as emulator:
        _point_settings_at(emulator, first_day)
        print(
            f"Tracker emulator: {emulator.base_url} ({options.issues} issues, seed {options.seed})"
        )
        _sync("Full sync", since=None)

        emulator.advance_clock(timedelta(days=1))
        changed = emulator.add_changes(max(1, int(options.issues * options.changed_share)))
        created = [emulator.create_issue("CPO")["key"] for _ in range(3)]
        print(
            f"\nTracker moved on a day: {len(changed)} issues changed, "
            f"{len(created)} created ({', '.join(created)})"
        )
        emulator.reset_requests()
        _sync("Incremental sync", since=None)
        print(f"requests the incremental sync made to Tracker: {len(emulator.requests)}")

    _ttm_summary(engine)
    pictures = _pictures()
    print("\n== Pictures")
    for path in pictures:
        print(f"  {path}")
    # Absolute paths: the commands must work pasted into a new shell, venv not activated.
    bin_dir = Path(sys.executable).parent
    print(
        "\nOpen the Dagster UI on these runs (from any directory):\n"
        f"  RADIATOR_HISTORY_START={get_settings().history_start} "
        f"DAGSTER_HOME={dagster_home()} RADIATOR_HOME={home} "
        f"{bin_dir / 'dagster'} dev -m radiator_assets.definitions\n"
        "(the emulator stopped with this command, so there the sensor finds no Tracker)\n"
        f"Export a report:  {bin_dir / 'radiator'} export report_ttm_details --format csv "
        "--headers ru\n"
        f"See the automation at work (a living Tracker, the sensor syncing it, until Ctrl-C):\n"
        f"  {bin_dir / 'radiator'} demo --serve"
    )
    return 0
