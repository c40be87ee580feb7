"""`radiator export REPORT --format csv [--headers en|ru] [--compat radiator] [--output PATH]`.

Streams a report table (server-side cursor, `yield_per`; never the whole table
in memory) to a CSV file or standard output. REPORT is a report table name with
or without the `report_` prefix (`ttm_details` or `report_ttm_details`).

Three layouts (`CsvLayout`), one writer (`write_csv`):

* `--headers en` (default): column names; values empty for NULL,
  `true`/`false`, ISO 8601 timestamps (UTC). `--bom` adds a UTF-8 byte-order mark.
* `--headers ru`: each column's Russian label (`info["ru"]` on the column in
  `storage/report_models.py`); booleans `Да`/`Нет`; values of enum-like columns
  (status blocks, the summary's and activity's `dimension`, returns' `scope`) in
  Russian (`info["ru_values"]`). A UTF-8 BOM by default, so that Excel reads the
  Cyrillic correctly; `--no-bom` leaves it out.
* `--compat radiator` (report_ttm_details only): the predecessor's file, see
  `export_radiator.py`.
* `time_in_status --wide [--queue Q] [--created-since DAY]`: the wide form
  instead (see `time_in_status_wide`).

Output: UTF-8 whatever the locale, on standard output too (`utf8_stdout`); a file is
written beside itself and renamed into place on success (`replace_on_success`).

Row order: the primary key; task-key columns (`task_key`, `key`) sort naturally
in SQL (CPO-2 before CPO-10): by the text before the trailing number, then the
number, then the key itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.reports import time_in_status_wide as wide
from radiator_assets.reports.common import natural_key
from radiator_assets.reports.export_radiator import COMPAT_TABLE, RADIATOR_COLUMNS
from radiator_assets.storage.report_models import REPORT_TABLES

BATCH_ROWS = 5000
#: columns holding task keys: sorted naturally wherever they take part in the order
KEY_COLUMNS = frozenset({"task_key", "key"})
COMPAT_CHOICES = ("radiator",)

#: formats one value of a column into a CSV cell
Cell = Callable[[Any], Any]


class ExportUsageError(ValueError):
    """Options that do not go together; the message says what to change (exit code 2)."""


@dataclass(frozen=True)
class CsvLayout:
    """What one export writes: the header line, the selected columns with a cell
    formatter each, the row order, and the CSV line ending."""

    headers: list[str]
    columns: list[sa.ColumnElement[Any]]
    cells: list[Cell]
    order: list[sa.ColumnElement[Any]]
    lineterminator: str = "\n"


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
    """The Russian label of a report column (its name when it has none)."""
    return table.c[column].info.get("ru", column)


# --------------------------------------------------------------------------- order


def order_of(columns: Sequence[sa.ColumnElement[Any]]) -> list[sa.ColumnElement[Any]]:
    """ORDER BY terms for `columns`, task-key columns natural."""
    terms: list[sa.ColumnElement[Any]] = []
    for column in columns:
        terms.extend(natural_key(column) if column.name in KEY_COLUMNS else [column])
    return terms


# --------------------------------------------------------------------------- cells


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


def _yes_no(value: Any) -> str:
    return "" if value is None else ("Да" if value else "Нет")


def _cell_ru(column: sa.Column[Any]) -> Cell:
    """Booleans `Да`/`Нет`, a column's vocabulary in Russian, anything else as in English."""
    vocabulary: dict[str, str] | None = column.info.get("ru_values")
    if vocabulary is not None:
        return lambda value: "" if value is None else vocabulary.get(value, value)
    if isinstance(column.type, sa.Boolean):
        return _yes_no
    return _value


def table_layout(table: sa.Table, headers: str = "en") -> CsvLayout:
    """Every column of `table` in its order, ordered by the primary key."""
    columns = list(table.columns)
    if headers == "ru":
        names = [header_ru(table, c.name) for c in columns]
        cells = [_cell_ru(c) for c in columns]
    else:
        names = [c.name for c in columns]
        cells = [_value for _ in columns]
    return CsvLayout(names, list(columns), cells, order_of(list(table.primary_key.columns)))


def radiator_layout(table: sa.Table) -> CsvLayout:
    """report_ttm_details as the predecessor wrote it (`export_radiator.RADIATOR_COLUMNS`):
    its headers and cells, CRLF line ends (its csv.DictWriter's default), finished rows
    first, then unfinished (its two passes), each in natural key order."""
    return CsvLayout(
        headers=[header for header, _, _ in RADIATOR_COLUMNS],
        columns=[table.c[column] for _, column, _ in RADIATOR_COLUMNS],
        cells=[cell for _, _, cell in RADIATOR_COLUMNS],
        order=[table.c.finished.desc(), *natural_key(table.c.task_key)],
        lineterminator="\r\n",
    )


# --------------------------------------------------------------------------- writing


def write_csv(engine: Engine, layout: CsvLayout, out: IO[str], *, delimiter: str = ",") -> int:
    """Write the rows `layout` selects as CSV to `out`; returns the number of data rows."""
    writer = csv.writer(out, delimiter=delimiter, lineterminator=layout.lineterminator)
    writer.writerow(layout.headers)
    count = 0
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
        result = conn.execute(
            sa.select(*layout.columns).order_by(*layout.order),
            execution_options={"yield_per": BATCH_ROWS},
        )
        for partition in result.partitions(BATCH_ROWS):
            writer.writerows(
                [cell(v) for cell, v in zip(layout.cells, row, strict=True)] for row in partition
            )
            count += len(partition)
    return count


@contextmanager
def _output(path: str | None, bom: bool) -> Iterator[IO[str]]:
    encoding = "utf-8-sig" if bom else "utf-8"
    if path in (None, "-"):
        with utf8_stdout() as out:
            if bom:
                out.write("\ufeff")
            yield out
        return
    with replace_on_success(Path(path), encoding) as handle:
        yield handle


@contextmanager
def utf8_stdout() -> Iterator[IO[str]]:
    """Standard output as UTF-8 text without newline translation, whatever the locale
    (a cp1251 console would otherwise get cp1251 bytes, and fail on a BOM).

    A text stream of its own over standard output's file descriptor, which it does not
    close (`closefd=False`), so closing it at the end flushes it and leaves
    `sys.stdout` usable; a reader that went away (`| head`) raises BrokenPipeError
    there, which the CLI treats as a quiet end. A standard output that is no file
    (an in-memory stream of an embedding program or a test) is written as it is."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        yield sys.stdout
        sys.stdout.flush()
        return
    sys.stdout.flush()
    with open(descriptor, "w", encoding="utf-8", newline="", closefd=False) as stream:
        yield stream


@contextmanager
def replace_on_success(target: Path, encoding: str) -> Iterator[IO[str]]:
    """A text file that becomes `target` only when the block succeeds.

    Written to a hidden temporary file in `target`'s directory (so the rename stays on
    one file system) and moved over `target` with `os.replace` (atomic) at the end: a
    failed or interrupted export leaves an existing `target` as it was, never a
    truncated or partial file; the temporary file is removed on failure. It is created
    with the usual permissions (0666 less the umask), like `open(target, "w")`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "w", encoding=encoding, newline="") as handle:
            yield handle
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", help=f"one of: {', '.join(report_names())}")
    parser.add_argument("--format", choices=["csv"], default="csv", help="output format")
    parser.add_argument(
        "--headers",
        choices=["en", "ru"],
        default=None,
        help="column headers (default: en); ru also writes Да/Нет and Russian enum values",
    )
    parser.add_argument(
        "--compat",
        choices=COMPAT_CHOICES,
        help="radiator: report_ttm_details exactly as the predecessor's CSV (fixes headers, "
        "delimiter and encoding)",
    )
    parser.add_argument("--output", "-o", help="file to write (default: standard output)")
    parser.add_argument("--delimiter", default=",", help="field separator (default: ,)")
    parser.add_argument(
        "--bom",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start with a UTF-8 byte-order mark (default: on with --headers ru, off otherwise)",
    )
    wide.add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiator export", description="Export a report table as CSV."
    )
    add_arguments(parser)
    return parser


def choose_layout(table: sa.Table, args: argparse.Namespace) -> tuple[CsvLayout, bool]:
    """The layout and whether to write a BOM, as `args` ask; ExportUsageError when they clash."""
    if len(args.delimiter) != 1:
        raise ExportUsageError("--delimiter must be one character")
    if args.compat is None:
        headers = args.headers or "en"
        bom = args.bom if args.bom is not None else headers == "ru"
        return table_layout(table, headers), bom
    if table.name != COMPAT_TABLE:
        raise ExportUsageError(
            f"--compat {args.compat} is only for {COMPAT_TABLE.removeprefix('report_')} "
            f"(the predecessor wrote no other report like it), not {table.name}"
        )
    clashing = [
        option
        for option, given in (
            ("--headers", args.headers is not None),
            ("--bom", args.bom is True),
            ("--delimiter", args.delimiter != ","),
        )
        if given
    ]
    if clashing:
        raise ExportUsageError(
            f"--compat {args.compat} fixes headers, delimiter and encoding; "
            f"drop {', '.join(clashing)}"
        )
    return radiator_layout(table), False


def run(args: argparse.Namespace, engine: Engine | None = None) -> int:
    """Export as `args` say (see `add_arguments`); 0 on success, 2 for an unknown report
    or options that do not go together."""
    try:
        table = resolve_report(args.report)
        layout, bom = choose_layout(table, args)
        selection = wide.selection_of(args, table)
    except KeyError as exc:
        print(f"radiator export: {exc.args[0]}", file=sys.stderr)
        return 2
    except ValueError as exc:  # ExportUsageError, or the wide form's flags
        print(f"radiator export: {exc}", file=sys.stderr)
        return 2
    if selection is not None:
        from radiator_assets.metrics.config import load_configured_metrics_config

        # the wide form's status columns follow the configuration; read before any output
        config = load_configured_metrics_config(allow_default=True)
    if engine is None:
        from radiator_assets.storage.engine import get_engine

        engine = get_engine()
    with _output(args.output, bom) as out:
        if selection is not None:
            rows = wide.write_wide_csv(
                engine,
                config,
                out,
                selection,
                headers=args.headers or "en",
                delimiter=args.delimiter,
            )
        else:
            rows = write_csv(engine, layout, out, delimiter=args.delimiter)
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
