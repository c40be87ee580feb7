"""`radiator export REPORT --format csv [--headers ru] [--output PATH]`.

Streams a report table (server-side cursor, ordered by its primary key) to a CSV
file or standard output. REPORT is a report table name with or without the
`report_` prefix (`ttm_details` or `report_ttm_details`). `--headers ru` writes
the Russian column headers the predecessor's users know; `--bom` starts the
file with a UTF-8 byte-order mark (spreadsheets then read Cyrillic correctly).
`time_in_status --wide [--queue Q] [--created-since DAY]` writes the wide form
instead (see `time_in_status_wide`).
Values: empty for NULL, `true`/`false`, ISO 8601 timestamps (UTC).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.reports import time_in_status_wide as wide
from radiator_assets.storage.report_models import REPORT_TABLES

BATCH_ROWS = 5000


def report_names() -> list[str]:
    return sorted(name.removeprefix("report_") for name in REPORT_TABLES)


def resolve_report(name: str) -> sa.Table:
    key = name.strip().lower().replace("-", "_")
    table = REPORT_TABLES.get(key)
    if table is None:
        table = REPORT_TABLES.get(f"report_{key}")
    if table is None:
        raise KeyError(f"unknown report {name!r}; one of: {', '.join(report_names())}")
    return table


def header_ru(table: sa.Table, column: str) -> str:
    """The Russian label of a report column (its name when it has none): the column's
    `info["ru"]` in `storage/report_models.py`."""
    return table.c[column].info.get("ru", column)


def _value(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 4))
    return value


def write_csv(
    engine: Engine,
    table: sa.Table,
    out: IO[str],
    *,
    headers: str = "en",
    delimiter: str = ",",
) -> int:
    """Write `table` as CSV to `out`; returns the number of data rows."""
    columns = [c.name for c in table.columns]
    names = [header_ru(table, c) for c in columns] if headers == "ru" else columns
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(names)
    order = [table.c[c.name] for c in table.primary_key.columns]
    count = 0
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
        result = conn.execute(
            sa.select(*[table.c[c] for c in columns]).order_by(*order),
            execution_options={"yield_per": BATCH_ROWS},
        )
        for partition in result.partitions(BATCH_ROWS):
            writer.writerows([_value(v) for v in row] for row in partition)
            count += len(partition)
    return count


@contextmanager
def _output(path: str | None, bom: bool) -> Iterator[IO[str]]:
    encoding = "utf-8-sig" if bom else "utf-8"
    if path in (None, "-"):
        if bom:
            sys.stdout.write("\ufeff")
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding=encoding, newline="") as handle:
        yield handle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", help=f"one of: {', '.join(report_names())}")
    parser.add_argument("--format", choices=["csv"], default="csv", help="output format")
    parser.add_argument(
        "--headers", choices=["en", "ru"], default="en", help="column headers (default: en)"
    )
    parser.add_argument("--output", "-o", help="file to write (default: standard output)")
    parser.add_argument("--delimiter", default=",", help="field separator (default: ,)")
    parser.add_argument("--bom", action="store_true", help="start with a UTF-8 byte-order mark")
    wide.add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiator export", description="Export a report table as CSV."
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace, engine: Engine | None = None) -> int:
    """Export as `args` say (see `add_arguments`); 0 on success, 2 for an unknown report."""
    try:
        table = resolve_report(args.report)
    except KeyError as exc:
        print(f"radiator export: {exc.args[0]}", file=sys.stderr)
        return 2
    if len(args.delimiter) != 1:
        print("radiator export: --delimiter must be one character", file=sys.stderr)
        return 2
    try:
        selection = wide.selection_of(args, table)
    except ValueError as exc:
        print(f"radiator export: {exc}", file=sys.stderr)
        return 2
    if selection is not None:
        from radiator_assets.metrics.config import load_configured_metrics_config

        # the wide form's status columns follow the configuration; read before any output
        config = load_configured_metrics_config(allow_default=True)
    if engine is None:
        from radiator_assets.storage.engine import get_engine

        engine = get_engine()
    with _output(args.output, args.bom) as out:
        if selection is not None:
            rows = wide.write_wide_csv(
                engine, config, out, selection, headers=args.headers, delimiter=args.delimiter
            )
        else:
            rows = write_csv(engine, table, out, headers=args.headers, delimiter=args.delimiter)
    if args.output not in (None, "-"):
        print(f"{rows} rows of {table.name} written to {args.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `argv` are the arguments after `radiator export` (a leading
    `export` is tolerated)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "export":
        args = args[1:]
    return run(build_parser().parse_args(args))


if __name__ == "__main__":
    sys.exit(main())
