"""The `radiator` command: warehouse administration, the emulator, sync and the demo."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence

from radiator_assets.settings import get_settings

Handler = Callable[[argparse.Namespace], int]


def _db_url(_: argparse.Namespace) -> int:
    from radiator_assets.storage.engine import display_url, resolve_database_url

    print(display_url(resolve_database_url()))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from radiator_assets.storage.engine import display_url, get_engine
    from radiator_assets.storage.migrations import current_revision, upgrade

    engine = get_engine()
    upgrade(engine, args.revision)
    print(f"{display_url(engine.url)} is at revision {current_revision(engine)}")
    return 0


def _db_check(_: argparse.Namespace) -> int:
    from radiator_assets.storage.engine import display_url, get_engine
    from radiator_assets.storage.migrations import schema_differences

    engine = get_engine()
    differences = schema_differences(engine)
    if not differences:
        print(f"{display_url(engine.url)}: the schema matches the models")
        return 0
    print(f"{display_url(engine.url)}: {len(differences)} difference(s) from the models:")
    for diff in differences:
        print(f"  - {diff}")
    return 1


def _db_stop(_: argparse.Namespace) -> int:
    from radiator_assets.storage.embedded import stop_server

    settings = get_settings()
    if settings.database_url is not None:
        print("RADIATOR_DATABASE_URL is set: there is no embedded server to stop")
        return 0
    stopped = stop_server(settings.pgdata_dir)
    print("embedded server stopped" if stopped else "embedded server was not running")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from datetime import date

    from radiator_assets.cli_output import print_sync_summary
    from radiator_assets.runner import run_sync

    since = date.fromisoformat(args.since) if args.since else None
    selection = ["group:tracker", *(["group:reports"] if args.reports else [])]
    outcome = run_sync(selection=selection, mode=args.mode, since=since, log_level=args.log_level)
    print_sync_summary(outcome)
    return 0 if outcome.success else 1


def _demo(args: argparse.Namespace) -> int:
    from radiator_assets.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(issues=args.issues, seed=args.seed))


def _config_import(args: argparse.Namespace) -> int:
    from radiator_assets.metrics.importer import config_import

    return config_import(args.directory, args.output, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radiator", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the warehouse database").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="apply migrations (starts the embedded server if needed)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_db_upgrade)
    db.add_parser("url", help="print the database URL in use (no secrets)").set_defaults(
        handler=_db_url
    )
    db.add_parser(
        "check", help="list differences between the database and the models"
    ).set_defaults(handler=_db_check)
    db.add_parser("stop", help="stop the embedded server").set_defaults(handler=_db_stop)

    sync = commands.add_parser(
        "sync", help="materialize the ingestion assets in this process (no deployment needed)"
    )
    sync.add_argument("--since", help="re-read issues updated since this UTC date (YYYY-MM-DD)")
    sync.add_argument("--mode", choices=["incremental", "full", "reconcile"], default="incremental")
    sync.add_argument("--no-reports", dest="reports", action="store_false")
    sync.add_argument("--log-level", default="INFO", help="Dagster log level printed")
    sync.set_defaults(handler=_sync)

    commands.add_parser(
        "export", help="export a report table (REPORT --format csv [--headers ru] [--output F])"
    )
    commands.add_parser(
        "emulator", help="run the local Tracker emulator (--port 8089 --issues 2000 --seed 7)"
    )

    demo = commands.add_parser(
        "demo",
        help="emulator + embedded database + materialize everything + show the report",
    )
    demo.add_argument("--issues", type=int, default=400)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=_demo)

    config = commands.add_parser("config", help="the metrics configuration").add_subparsers(
        dest="config_command", required=True
    )
    imp = config.add_parser(
        "import", help="convert the predecessor's text files (status_order.txt, ...) to YAML"
    )
    imp.add_argument("directory")
    imp.add_argument("--output", default="radiator.yaml")
    imp.add_argument("--force", action="store_true", help="overwrite an existing output file")
    imp.set_defaults(handler=_config_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        from radiator_assets.reports.export import main as export_main

        return export_main(argv[1:])
    if argv[:1] == ["emulator"]:
        # The emulator has its own parser (it also runs as `python -m ...emulator`).
        from radiator_assets.tracker.emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    if not args.verbose:
        # Dagster flags its own beta parameters on every import; not the user's concern.
        warnings.filterwarnings("ignore", message=r".*is currently in beta")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Dagster's local storage runs Alembic on SQLite and narrates it at INFO.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
