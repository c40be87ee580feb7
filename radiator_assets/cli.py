"""The `radiator` command: warehouse administration, the emulator, sync and the demo."""

from __future__ import annotations

import argparse
import logging
import sys
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
