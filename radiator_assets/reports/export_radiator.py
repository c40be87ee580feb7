"""`radiator export ttm_details --compat radiator`: the predecessor's TTM details CSV.

The one place of the compat column map (`RADIATOR_COLUMNS`): the predecessor's
header -> our column of report_ttm_details and how the predecessor wrote the
value. Read from its `generate_ttm_details_report.py` (`_format_task_row`,
`generate_csv`) and `models/ttm_details_columns.py`:

* headers: the 23 of `TTMDetailsColumns.COLUMN_NAMES` in their order, then
  `Статус` and `Группа статусов`, the two keys its row builder appends
  (`_format_task_row`): the status as of as_of (the last stay of the history)
  and that status's block from the status file, lower-case English
  (`backlog`, `discovery`, `delivery`, `done`, `cancelled`, `pause`; its guide
  lists exactly these). Caveat, read from its code: its last commit added the two
  keys to the row dict but not to `COLUMN_NAMES` (the writer's fieldnames), and
  calls a `ConfigService.get_status_group` that does not exist, so that very
  version cannot write a data row; its guide, its tests and its row builder agree
  on the 25 columns written here.
* file: `csv.DictWriter` with the default dialect: comma, `"` quoting only where
  needed, CRLF line ends; UTF-8 without BOM.
* cells: NULL -> empty (DictWriter writes None as ""); integers as `str(int)`;
  dates `YYYY-MM-DD` (UTC, `strftime("%Y-%m-%d")`); flags `1`/`0`; the period
  names of the configuration (its `quarters.txt` names, imported as they are).
* rows: finished tasks first, then unfinished ones (its two passes); inside each
  pass its order was a `SELECT DISTINCT` without ORDER BY (undefined), here the
  natural key order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

COMPAT_TABLE = "report_ttm_details"


def text(value: Any) -> str:
    return "" if value is None else str(value)


def integer(value: Any) -> str:
    return "" if value is None else str(int(value))


def day(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")


def flag(value: bool | None) -> str:
    return "1" if value else "0"


#: (predecessor header, report_ttm_details column, cell formatter), in the file's order
RADIATOR_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Ключ задачи", "task_key", text),
    ("Название", "summary", text),
    ("Автор", "author", text),
    ("Команда", "team", text),
    ("PM Lead", "lead", text),
    ("Квартал", "period", text),
    ("TTM", "ttm", integer),
    ("Пауза", "pause", integer),
    ("Tail", "tail", integer),
    ("DevLT", "devlt", integer),
    ("TTD", "ttd", integer),
    ("TTD Pause", "ttd_pause", integer),
    ("Discovery backlog (дни)", "discovery_backlog_days", integer),
    ("Готова к разработке (дни)", "ready_for_dev_days", integer),
    ("Возвраты с Testing", "returns_testing", integer),
    ("Возвраты с Внешний тест", "returns_external_test", integer),
    ("Всего возвратов", "returns_total", integer),
    ("Квартал TTD", "ttd_period", text),
    ("Создана", "created", day),
    ("Начало работы", "work_started", day),
    ("Завершено", "completed", day),
    ("Разработка", "went_through_development", flag),
    ("Завершена", "finished", flag),
    ("Статус", "current_status", text),
    ("Группа статусов", "status_block", text),
)
