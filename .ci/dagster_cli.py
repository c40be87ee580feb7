"""The README's `dagster asset materialize` commands, verbatim, as a user's CI runs them.

Starts the project's Tracker emulator on a loopback port (400 issues), points
the settings at it and at a fresh database (on `RADIATOR_TEST_DATABASE_URL`'s
server, or the embedded one), then runs the lines between the README's
`ci: dagster-cli` markers one command at a time in a scratch working directory
whose `.venv` is this virtualenv: the first full sync, an incremental sync
after Tracker moved on, the report tables, the pictures, the named jobs. After
each, exit codes, row counts, the pictures' files and the Dagster instance's runs
and partitions are checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from radiator_assets.emulator import TrackerEmulator, generate_org

ROOT = Path(__file__).resolve().parents[1]
MARKERS = re.compile(r"<!-- ci: dagster-cli begin -->\s*```bash\n(.*?)```", re.S)
TOKEN = "ci-dagster-cli-token"
ORG_ID = "4242"
QUERY = "Queue: CPO, FULLSTACK"


def readme_commands() -> tuple[str, list[str]]:
    """The export line and each command of the README's block (continuations joined)."""
    block = MARKERS.search((ROOT / "README.md").read_text(encoding="utf-8"))
    if block is None:
        sys.exit("README.md has no `ci: dagster-cli` block")
    lines = [line for line in block.group(1).splitlines() if not line.lstrip().startswith("#")]
    commands = re.split(r"(?<!\\)\n", "\n".join(lines).strip())
    export, *rest = (c.split("  #")[0].strip() for c in commands if c.strip())
    if not export.startswith("export DAGSTER_HOME="):
        sys.exit(f"the block must start by exporting DAGSTER_HOME, not: {export}")
    return export, rest


def run(export: str, command: str, env: dict[str, str], cwd: Path) -> None:
    print(f"$ {command}", flush=True)
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{export}\n{command}"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-6000:], sep="\n")
        sys.exit(f"exit code {done.returncode}: {command}")


def storage_bytes(home: Path) -> int:
    return sum(f.stat().st_size for f in home.rglob("*") if f.is_file())


def instance_at(home: Path) -> dg.DagsterInstance:
    """The instance the README's commands used (what `dagster dev` would show)."""
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def scalar(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(sql)) or 0)


def expect(what: str, got: object, wanted: object) -> None:
    print(f"  {what}: {got}")
    if got != wanted:
        sys.exit(f"{what}: expected {wanted}, got {got}")


def month_keys(first: datetime, last: datetime) -> list[str]:
    keys, day = [], first.date().replace(day=1)
    while day <= last.date():
        keys.append(day.isoformat())
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return keys


def database() -> tuple[str | None, sa.Engine | None, str]:
    """A fresh database on the CI server, or None for the embedded one."""
    server = os.environ.get("RADIATOR_TEST_DATABASE_URL")
    if not server:
        return None, None, ""
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"radiator_ci_cli_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    return url, admin, name


def check(work: Path, env: dict[str, str], emulator: TrackerEmulator, first: datetime) -> None:
    export, (first_sync, incremental, reports, pictures, sync_job, reports_job) = readme_commands()
    home = work / ".radiator" / "dagster"
    engine = sa.create_engine(
        env.get("RADIATOR_DATABASE_URL")
        or subprocess.run(
            [str(work / ".venv/bin/radiator"), "db", "url"],  # embedded: no password
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    run(export, first_sync, env, work)
    live = list(emulator.org.live())
    expect("issues stored", scalar(engine, "SELECT count(*) FROM tracker_tasks"), len(live))
    expect(
        "changelog entries stored",
        scalar(engine, "SELECT count(*) FROM tracker_changelog"),
        sum(len(r.changelog) for r in live),
    )
    with instance_at(home) as instance:
        partitions = instance.get_materialized_partitions(dg.AssetKey("tracker_changelog"))
    expect("months recorded", sorted(partitions), month_keys(first, datetime.now(UTC)))
    after_first = storage_bytes(home)
    print(f"  Dagster storage after the first sync: {after_first / 1e6:.2f} MB")

    emulator.advance_clock(timedelta(hours=2))
    changed = emulator.add_changes(5, kind="status")
    run(export, incremental, env, work)
    print(f"  the incremental run added {(storage_bytes(home) - after_first) / 1e3:.0f} kB")
    expect(
        "changed issues synced",
        scalar(
            engine,
            "SELECT count(*) FROM tracker_tasks WHERE changelog_synced_updated_at "
            "IS DISTINCT FROM task_updated_at",
        ),
        0,
    )
    expect(
        "changelog entries stored",
        scalar(engine, "SELECT count(*) FROM tracker_changelog"),
        sum(len(r.changelog) for r in emulator.org.live()),
    )
    run(export, reports, env, work)
    expect(
        "report rows > 0",
        scalar(engine, "SELECT count(*) FROM report_ttm_details") > 0,
        True,
    )
    drawn = work / ".radiator" / "reports"
    expect("pictures drawn by the table reports", sorted(drawn.glob("*.png")), [])
    run(export, pictures, env, work)
    expect("pictures drawn", len(list(drawn.glob("*.png"))), 7)
    run(export, sync_job, env, work)
    run(export, reports_job, env, work)
    with instance_at(home) as instance:
        runs = instance.get_runs()
        statuses = [r.status.value for r in reversed(runs)]
        incremental_run = runs[4]
        jobs = [r.job_name for r in reversed(runs)]
        recorded = instance.get_materialized_partitions(dg.AssetKey("tracker_changelog"))
        logs = instance.all_logs(incremental_run.run_id)
        kinds = Counter(e.dagster_event_type.value for e in logs if e.dagster_event_type)
        event_bytes = sum(len(dg.serialize_value(e)) for e in logs)
    print(
        f"  the incremental run's events: {len(logs)} ({event_bytes / 1e3:.1f} kB serialized; "
        f"{kinds['ASSET_MATERIALIZATION']} materializations)"
    )
    expect("runs in the shared instance", statuses, ["SUCCESS"] * 6)
    expect("their jobs", jobs, ["__ASSET_JOB"] * 4 + ["tracker_sync", "reports"])
    this_month = datetime.now(UTC).date().replace(day=1).isoformat()
    expect("incremental run's partition", incremental_run.tags.get("dagster/partition"), this_month)
    expect("changes made in Tracker", len(changed), 5)
    expect("months recorded after it", len(recorded), len(month_keys(first, datetime.now(UTC))))
    engine.dispose()


def main() -> None:
    now = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(12), UTC)
    org = generate_org(seed=7, n_issues=400, now=now, span_days=300)
    first = now - timedelta(days=301)
    url, admin, name = database()
    with (
        tempfile.TemporaryDirectory() as scratch,
        TrackerEmulator(org, token=TOKEN, org_id=ORG_ID) as emulator,
    ):
        work = Path(scratch)
        (work / ".venv").symlink_to(Path(sys.prefix))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RADIATOR_", "DAGSTER_"))}
        env |= {
            "TRACKER_API_URL": emulator.base_url,
            "TRACKER_TOKEN": TOKEN,
            "TRACKER_ORG_ID": ORG_ID,
            "TRACKER_QUERY": QUERY,
            "RADIATOR_HISTORY_START": first.date().isoformat(),
        }
        if url:
            env["RADIATOR_DATABASE_URL"] = url
        try:
            check(work, env, emulator, first)
        finally:
            if not url:
                subprocess.run([str(work / ".venv/bin/radiator"), "db", "stop"], env=env, cwd=work)
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print("README's dagster commands: OK")


if __name__ == "__main__":
    main()
