"""The `radiator` command: warehouse administration, the emulator, sync and the demo.

Every command runs inside one error boundary (`main`): an error that ends it is
printed as one line, `radiator: error: <what> (<where>): <what to do>`, with
exit code 2 when a setting or file has to change and 1 for a runtime failure;
the traceback goes to `$RADIATOR_HOME/logs/radiator.log`, and to the console
with `--verbose`. By default the console shows warnings only; `--verbose` shows
every log line and Dagster's own console log.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from radiator_assets.log_redaction import RedactSecrets, configured_secrets
from radiator_assets.settings import get_settings

Handler = Callable[[argparse.Namespace], int]
log = logging.getLogger("radiator_assets.cli")
VERBOSE_FLAGS = ("-v", "--verbose")
LOG_FILE_BYTES = 10 * 1024 * 1024
DESCRIPTION = (
    "Warehouse administration, the Tracker emulator, sync and the demo. An error is "
    "printed as one line (exit code 2: change a setting or the configuration file; 1: "
    "a runtime failure); full logs are under $RADIATOR_HOME/logs."
)


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
    # Objects the models do not know (a column or index someone added) are kept by every
    # upgrade and harm nothing: listed, but not a failure.
    extra = [d for d in differences if d.kind.startswith("remove_")]
    wrong = [d for d in differences if not d.kind.startswith("remove_")]
    where = display_url(engine.url)
    if not wrong:
        print(f"{where}: the schema matches the models")
    else:
        print(f"{where}: {len(wrong)} difference(s) from the models:")
        for diff in wrong:
            print(f"  - {diff}")
    if extra:
        print(f"{len(extra)} object(s) the models do not know, kept:")
        for diff in extra:
            print(f"  - {diff.detail}")
    return 1 if wrong else 0


def _db_stop(_: argparse.Namespace) -> int:
    from radiator_assets.storage.embedded import stop_server

    settings = get_settings()
    if settings.database_url is not None:
        print("RADIATOR_DATABASE_URL is set: there is no embedded server to stop")
        return 0
    stopped = stop_server(settings.pgdata_dir)
    print("embedded server stopped" if stopped else "embedded server was not running")
    return 0


def check_configuration(*, tracker: bool) -> None:
    """Fail fast, before any work: the settings, the metrics configuration file (when
    there is one) and, with `tracker`, the Tracker credentials a client needs."""
    from radiator_assets.resources import load_configured_metrics

    settings = get_settings()
    if tracker:
        from radiator_assets.tracker.client import TrackerClient

        with TrackerClient.from_settings(settings):
            pass
    load_configured_metrics(settings)


def _sync(args: argparse.Namespace) -> int:
    from datetime import date

    from radiator_assets.cli_output import (
        CONFIG_ERROR,
        KEYS_NOT_FOUND,
        RUNTIME_ERROR,
        missing_keys_lines,
        print_sync_summary,
    )
    from radiator_assets.runner import nothing_to_sync, run_sync

    given = _given_issues(args)
    since = date.fromisoformat(args.since) if args.since else None
    mode = args.mode or "incremental"
    check_configuration(tracker=True)
    if given is None and mode == "incremental" and since is None and not args.force:
        reason = nothing_to_sync(reports=args.reports)
        if reason is not None:
            print(reason)
            return 0
    selection = ["group:tracker", *(["group:reports"] if args.reports else [])]
    log_level = args.log_level or ("DEBUG" if args.verbose else None)
    outcome = run_sync(
        selection=selection, mode=mode, since=since, log_level=log_level, given=given
    )
    print_sync_summary(outcome)
    if not outcome.success:
        failures = outcome.failures
        return CONFIG_ERROR if any(f.is_configuration for f in failures) else RUNTIME_ERROR
    return KEYS_NOT_FOUND if missing_keys_lines(outcome.metadata.get("tracker_issues", {})) else 0


def _pictures(args: argparse.Namespace) -> int:
    """Draw every report picture from the current report tables (a `pictures` run in this
    process) and print their paths; pictures whose inputs did not change are kept."""
    from radiator_assets.cli_output import RUNTIME_ERROR
    from radiator_assets.runner import run_pictures

    check_configuration(tracker=False)  # drawn from the warehouse: Tracker is not asked
    outcome = run_pictures(log_level="DEBUG" if args.verbose else None)
    if not outcome.success:
        for failure in outcome.failures:
            print(f"radiator: error: {failure.message} (step {failure.step})", file=sys.stderr)
        return RUNTIME_ERROR
    for path in sorted(map(str, outcome.pictures.values())):
        print(path)
    print(f"{outcome.redrawn} of {len(outcome.pictures)} redrawn (run {outcome.run_id})")
    return 0


def _given_issues(args: argparse.Namespace) -> dict[str, object] | None:
    """The `tracker_issues` config of `--keys FILE` / `--query Q` (None without them); the
    keys are read and checked here, before any work."""
    if args.keys is None and args.query is None:
        if args.batch_size is not None:
            raise _usage("--batch-size goes with --keys or --query")
        return None
    if args.mode is not None or args.since is not None or args.force:
        raise _usage("--keys and --query go with neither --mode, --since nor --force")
    batch = {} if args.batch_size is None else {"keys_per_batch": args.batch_size}
    if args.query is not None:
        if not args.query.strip():
            raise _usage("--query needs a Tracker query")
        return {"query": args.query.strip(), **batch}
    return {"keys": _read_keys(args.keys), **batch}


def _read_keys(source: str) -> list[str]:
    """The keys of FILE (`-`: standard input), checked: see `sync.by_keys.parse_keys`.

    Both are UTF-8 whatever the locale, a leading byte-order mark dropped (Notepad and
    Excel's "CSV UTF-8" write one), as `radiator config import` reads its files."""
    from radiator_assets.sync.by_keys import KeyInputError, parse_keys

    where = "standard input" if source == "-" else source
    try:
        if source == "-":
            return parse_keys(_stdin_lines())
        with open(source, encoding="utf-8-sig") as lines:
            return parse_keys(lines)
    except KeyInputError as exc:
        raise KeyInputError(f"{exc} ({where})") from None
    except UnicodeDecodeError:
        raise KeyInputError(f"not UTF-8 text ({where})") from None


def _stdin_lines() -> list[str]:
    """Standard input's lines, decoded as UTF-8 (a leading BOM dropped) from its bytes; an
    in-memory text stream without bytes (an embedding program's) only loses the BOM."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin.read().removeprefix("\ufeff").splitlines()
    return buffer.read().decode("utf-8-sig").splitlines()


def _usage(message: str) -> Exception:
    from radiator_assets.cli_output import UsageError

    return UsageError(f"{message} (radiator sync)")


def _partitions(args: argparse.Namespace) -> int:
    from radiator_assets.assets.partitions import current_partition_key, whole_history_range
    from radiator_assets.runner import dagster_home

    dagster_home()  # the instance the printed keys are pasted into exists from here on
    print(current_partition_key() if args.current else whole_history_range())
    return 0


def _dagster_home(args: argparse.Namespace) -> int:
    from radiator_assets.runner import dagster_home

    print(dagster_home())
    return 0


def _demo(args: argparse.Namespace) -> int:
    check_configuration(tracker=False)  # the demo brings its own Tracker
    if args.serve:
        from radiator_assets.live_demo import ServeOptions, serve

        given = {"port": args.port, "churn_seconds": args.churn_seconds}
        return serve(
            ServeOptions(
                issues=args.issues,
                seed=args.seed,
                **{name: value for name, value in given.items() if value is not None},
            )
        )
    if args.port is not None or args.churn_seconds is not None:
        print(
            "radiator: error: --port and --churn-seconds go with --serve (radiator demo): "
            "add --serve for the live demo",
            file=sys.stderr,
        )
        return 2
    from radiator_assets.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(issues=args.issues, seed=args.seed))


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1..65535)")
    return port


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _churn_seconds(value: str) -> float:
    from radiator_assets.emulator.cli import nonnegative_seconds

    return nonnegative_seconds(value)


def _config_import(args: argparse.Namespace) -> int:
    from radiator_assets.metrics.importer import config_import

    return config_import(args.directory, args.output, force=args.force)


def _since_date(value: str) -> str:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2025-01-31") from None
    return value


def _deliver(args: argparse.Namespace) -> int:
    from radiator_assets.delivery.command import run
    from radiator_assets.resources import load_configured_metrics
    from radiator_assets.storage.engine import get_engine

    settings = get_settings()
    return run(args, get_engine(settings), load_configured_metrics(settings), settings.reports_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radiator", description=DESCRIPTION)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every log line, Dagster's console log and the traceback of an error",
    )
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
        "sync",
        help="run the tracker_sync job (ingestion, then reports) in this process; no deployment "
        "needed, no run when Tracker reports no change",
    )
    sync.add_argument(
        "--since", type=_since_date, help="re-read issues updated since this UTC date (YYYY-MM-DD)"
    )
    sync.add_argument(
        "--mode", choices=["incremental", "full", "reconcile"], default=None, help="(incremental)"
    )
    given = sync.add_mutually_exclusive_group()
    given.add_argument(
        "--keys",
        metavar="FILE",
        help="sync just these issues: one key a line (old keys too; blank lines and # "
        "comments ignored; - reads standard input); resumable, the query's mark stays",
    )
    given.add_argument(
        "--query",
        metavar="QUERY",
        help="sync just the issues this Tracker query matches now, as --keys does",
    )
    sync.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        metavar="N",
        help="with --keys/--query: issues per search request and transaction (100)",
    )
    sync.add_argument("--no-reports", dest="reports", action="store_false")
    sync.add_argument(
        "--force",
        action="store_true",
        help="start a run even when Tracker reports no change since the last sync",
    )
    sync.add_argument(
        "--log-level",
        default=None,
        help="also print Dagster's console log from this level (default: only with --verbose; "
        "the whole log is always written to $RADIATOR_HOME/logs/sync-<run id>.log)",
    )
    sync.set_defaults(handler=_sync)

    commands.add_parser(
        "pictures",
        help="draw every report picture from the current report tables (the report_pictures "
        "asset, in this process; the sensor's syncs draw none) and print their paths",
    ).set_defaults(handler=_pictures)

    partitions = commands.add_parser(
        "partitions",
        help="print the changelog's partition range for `dagster asset materialize "
        "--partition-range` (first...current month), or the current month's key",
    )
    partitions.add_argument(
        "--current", action="store_true", help="only the current month's key (`--partition`)"
    )
    partitions.set_defaults(handler=_partitions)
    commands.add_parser(
        "dagster-home",
        help="print the Dagster instance radiator uses ($DAGSTER_HOME, or $RADIATOR_HOME/dagster; "
        "created if missing), for `export DAGSTER_HOME=...`",
    ).set_defaults(handler=_dagster_home)

    commands.add_parser(
        "export",
        help="export a report table (REPORT --format csv [--headers ru] [--no-bom] "
        "[--compat radiator] [--output F]; time_in_status --wide [--queue Q] "
        "[--created-since DAY]: one column per status)",
    )
    commands.add_parser(
        "emulator",
        help="run the local Tracker emulator (--port 8089 --issues 2000 --seed 7 "
        "[--churn-seconds N])",
    )

    demo = commands.add_parser(
        "demo",
        help="emulator + embedded database + materialize everything + show the report; "
        "--serve: a live demo in the Dagster UI until Ctrl-C",
    )
    demo.add_argument("--issues", type=int, default=400)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--serve",
        action="store_true",
        help="run live instead: a living emulated organisation and `dagster dev`, whose "
        "sensor syncs what changes; Ctrl-C stops everything",
    )
    demo.add_argument(
        "--port", type=_port, default=None, help="with --serve: the Dagster UI's port (3000)"
    )
    demo.add_argument(
        "--churn-seconds",
        type=_churn_seconds,
        default=None,
        metavar="N",
        help="with --serve: the organisation moves on every N seconds (20; 0: it stands still)",
    )
    demo.set_defaults(handler=_demo)

    deliver = commands.add_parser(
        "deliver",
        help="publish the reports to Google Sheets or post them to Telegram (--dry-run: print "
        "what would be sent)",
    )
    deliver.add_argument("target", choices=["sheets", "telegram"], help="where to deliver")
    deliver.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; send nothing"
    )
    deliver.add_argument(
        "--as-of", default=None, help="telegram: the reports' as_of (default: now, UTC)"
    )
    deliver.set_defaults(handler=_deliver)

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


class _ConsoleWarnings(logging.Filter):
    """The quiet console: warnings only. Errors end a step or the command, and are
    printed once as its error line; their details are in the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno == logging.WARNING


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().strip().splitlines()
        return f"radiator: warning: {message[0] if message else ''}"


def _log_file() -> Path | None:
    """`$RADIATOR_HOME/logs/radiator.log`, or None while the settings are invalid."""
    try:
        from radiator_assets.runner import logs_dir

        return logs_dir() / "radiator.log"
    except Exception:  # the settings error is reported by the command itself
        return None


@contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Log to the console (warnings; everything with `verbose`) and to the log file,
    for the duration of one command; the previous logging setup is restored after.
    Both handlers redact the configured secrets (`radiator_assets.log_redaction`)."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(sys.stderr)
    if verbose:
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        console.addFilter(_ConsoleWarnings())
        console.setFormatter(_OneLine())
    handlers.append(console)
    path = _log_file()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.handlers.RotatingFileHandler(
                path, maxBytes=LOG_FILE_BYTES, backupCount=3, encoding="utf-8", delay=True
            )
        except OSError:
            pass  # an unwritable home: log to the console only
        else:
            to_file.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            handlers.append(to_file)
    redact = RedactSecrets(configured_secrets())
    level = root.level
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in handlers:
        handler.addFilter(redact)
        root.addHandler(handler)
    # Dagster's local storage runs Alembic on SQLite and narrates it at INFO. urllib3 logs
    # each request line at DEBUG, and the Bot API's URL holds the token: besides the
    # redaction, its connection pool says nothing below WARNING.
    quiet = {"urllib3.connectionpool": logging.WARNING}
    if not verbose:
        quiet["alembic"] = logging.WARNING
    previous = {name: logging.getLogger(name).level for name in quiet}
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
        for name, value in previous.items():
            logging.getLogger(name).setLevel(value)


def _dispatch(argv: list[str], verbose: bool) -> int:
    if argv[:1] == ["export"]:
        from radiator_assets.reports.export import main as export_main

        return export_main(argv[1:])
    if argv[:1] == ["emulator"]:
        # The emulator has its own parser (it also runs as `python -m ...emulator`).
        from radiator_assets.emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.verbose = verbose
    handler: Handler = args.handler
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """`radiator ...`: runs one command and returns its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Taken out wherever it is given: `radiator sync --verbose` works too, and export and
    # the emulator (parsers of their own) never see it.
    verbose = any(a in VERBOSE_FLAGS for a in argv)
    argv = [a for a in argv if a not in VERBOSE_FLAGS]
    with warnings.catch_warnings():
        if not verbose:
            # Dagster flags its own beta parameters on every import; not the user's concern.
            warnings.filterwarnings("ignore", message=r".*is currently in beta")
        with _logging(verbose):
            try:
                return _dispatch(argv, verbose)
            except KeyboardInterrupt:
                print("radiator: interrupted", file=sys.stderr)
                return 130
            except BrokenPipeError:
                # The reader went away (`radiator export ... | head`): nothing went wrong.
                # Python would complain again when it flushes stdout at exit.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
            except Exception as exc:
                return _report(exc)


def _report(exc: Exception) -> int:
    """The error boundary's answer: the traceback to the log (and the console with
    `verbose`), one line per problem to standard error, the exit code."""
    from radiator_assets.cli_output import describe_error

    code, lines = describe_error(exc)
    # The traceback: to the log file, and with --verbose to the console as well (the
    # quiet console shows warnings only).
    log.error("%s", "; ".join(lines), exc_info=exc)
    for line in lines:
        print(f"radiator: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
