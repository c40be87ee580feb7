"""What the `radiator` command prints: sync summaries and plain text tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # importing the runner loads the asset definitions: not for error lines
    from radiator_assets.runner import JournalRow, SyncOutcome


def _written(outcome: SyncOutcome, asset: str, what: Callable[[JournalRow], str]) -> str | None:
    """The line of a step that did not materialize: what it wrote before failing, or why
    it did not run; None when it materialized."""
    if asset in outcome.metadata:
        return None
    if outcome.failed(asset):
        row = outcome.journal_row(asset)
        if row is None:
            return "FAILED before writing anything"
        requests = f" ({row.api_requests} requests)" if row.api_requests else ""
        return f"FAILED after writing {what(row)}{requests}"
    # Dagster does not start the steps downstream of a failed one.
    return "not run" if outcome.success else "not run (an earlier step failed)"


def print_sync_summary(outcome: SyncOutcome, *, err: TextIO | None = None) -> None:
    """What a sync did, in a few lines a person reads; one error line per failed step
    (on `err`, standard error by default) with the path of the full log.

    A failed step has no materialization: what it stored before failing comes from
    its `tracker_sync_runs` row, never a misleading "0 seen"."""
    err = err or sys.stderr
    issues = outcome.metadata.get("tracker_issues", {})
    changelog = outcome.metadata.get("tracker_changelog", {})
    history = outcome.metadata.get("tracker_task_history", {})
    instead = _written(outcome, "tracker_issues", lambda r: f"{r.tasks_written} issues")
    print("issues:    " + (instead or _issues_line(issues)))
    instead = _written(outcome, "tracker_changelog", lambda r: f"{r.entries_written} new entries")
    print(
        "changelog: "
        + (
            instead
            or f"{changelog.get('issues_pending', 0)} issues fetched, "
            f"{changelog.get('rows_inserted', 0)} new entries, "
            f"{changelog.get('issues_quarantined', 0)} quarantined, "
            f"{changelog.get('issues_gone', 0)} gone ({changelog.get('api_requests', 0)} requests)"
        )
    )
    instead = _written(outcome, "tracker_task_history", lambda r: f"{r.history_written} stays")
    print(
        "history:   "
        + (
            instead
            or f"{history.get('tasks_touched', 0)} tasks rebuilt, "
            f"{history.get('rows_inserted', 0)} stays written, "
            f"{history.get('dagster/row_count', 0)} stays in total"
        )
    )
    failed = [n for n, ok in outcome.checks.items() if not ok and n not in outcome.warnings]
    warned = sorted(outcome.warnings)
    passed = len(outcome.checks) - len(failed) - len(warned)
    print(
        f"checks:    {passed} passed, {len(failed)} failed {failed or ''}".rstrip()
        + (f", {len(warned)} warning(s) {warned}" if warned else "")
    )
    print(f"run:       {outcome.run_id} ({'success' if outcome.success else 'FAILED'})")
    sys.stdout.flush()
    where = f": full log in {outcome.log_path}" if outcome.log_path else ""
    for failure in outcome.failures:
        print(f"radiator: error: {failure.message} (step {failure.step}){where}", file=err)
    for line in [*missing_keys_lines(issues), *outside_query_lines(issues)]:
        print(f"radiator: warning: {line}", file=err)


def _issues_line(issues: dict[str, Any]) -> str:
    """The issues step's numbers: of a listing of the query, or of an ad-hoc sync."""
    counts = (
        f"{issues.get('rows_inserted', 0)} new, {issues.get('rows_updated', 0)} updated, "
        f"{issues.get('rows_unchanged', 0)} unchanged, "
        f"{issues.get('issues_quarantined', 0)} quarantined"
    )
    requests = f"({issues.get('api_requests', 0)} requests)"
    if issues.get("mode") in ("keys", "query"):
        missing = issues.get("keys_not_found_count", 0) + issues.get("keys_hidden_count", 0)
        return (
            f"{issues.get('keys_given', 0)} keys given ({issues.get('mode')}: "
            f"{issues.get('query')}), {issues.get('batches', 0)} batches of which "
            f"{issues.get('batches_stored_before', 0)} stored by an earlier run, "
            f"{issues.get('issues_seen', 0)} found, {counts}, {missing} not found, "
            f"{issues.get('keys_outside_query_count', 0)} outside the configured query "
            f"{requests}"
        )
    return (
        f"{issues.get('issues_seen', 0)} seen, {counts}, "
        f"{issues.get('issues_marked_deleted', 0)} deleted in Tracker, "
        f"{issues.get('issues_out_of_query', 0)} out of the query {requests}"
    )


def missing_keys_lines(issues: dict[str, Any]) -> list[str]:
    """One line for the keys Tracker does not know and one for those it hides from us."""
    lines = []
    for count_key, keys_key, what in (
        ("keys_not_found_count", "keys_not_found", "not found in Tracker (404)"),
        ("keys_hidden_count", "keys_hidden", "hidden from this token (403)"),
    ):
        count = issues.get(count_key, 0)
        if count:
            shown = [key for key in issues.get(keys_key, "").split(", ") if key]
            more = f" and {count - len(shown)} more" if count > len(shown) else ""
            lines.append(
                f"{count} key(s) {what}, nothing stored for them: {', '.join(shown)}{more}"
            )
    return lines


def outside_query_lines(issues: dict[str, Any]) -> list[str]:
    """A line for the given issues the configured query does not match: they count in the
    reports until the next reconcile marks them out of the query (not an error)."""
    count = issues.get("keys_outside_query_count", 0)
    if not count:
        return []
    shown = [key for key in issues.get("keys_outside_query", "").split(", ") if key]
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    return [
        f"{count} given issue(s) are outside the configured query "
        f"(TRACKER_QUERY: {issues.get('configured_query', '')}): they count in the reports "
        "until the nightly reconcile (`radiator sync --mode reconcile`) marks them out of "
        f"the query: {', '.join(shown)}{more}"
    ]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A left-aligned text table; `(no rows)` when empty."""
    if not rows:
        print("(no rows)")
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


# --------------------------------------------------------------------------- errors

CONFIG_ERROR = 2  # the user has to change a setting or a file
RUNTIME_ERROR = 1  # something failed while running: the database, Tracker, a bug
KEYS_NOT_FOUND = 3  # an ad-hoc sync succeeded, but Tracker does not give some given keys


class UsageError(Exception):
    """Options of a command that do not go together (exit code 2)."""


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _database_where() -> str:
    """Which database, password hidden; never starts the embedded server."""
    from pydantic import ValidationError

    from radiator_assets.settings import get_settings
    from radiator_assets.storage.engine import display_url, normalise_url

    try:
        settings = get_settings()
        if settings.database_url is None:
            return f"embedded server in {settings.pgdata_dir}"
        return display_url(normalise_url(settings.database_url.get_secret_value()))
    except (ValidationError, ValueError):
        return "RADIATOR_DATABASE_URL"


def _tracker_where() -> str:
    from pydantic import ValidationError

    from radiator_assets.settings import get_settings

    try:
        return f"Tracker at {get_settings().tracker_api_url}"
    except ValidationError:
        return "Tracker"


def _settings_lines(exc: Any) -> list[str]:
    """One line per invalid setting, from each error's location and message only: an
    error's input is the environment it read, token and database URL included."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ", ".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        what = f"{name}: {message}" if name else message
        lines.append(
            f"{what} (environment or .env): fix the variable (see Configuration in README.md)"
        )
    return lines


def describe_error(exc: BaseException) -> tuple[int, list[str]]:
    """The exit code and the line(s) `radiator` prints for an error that ended a
    command: `<what> (<where>): <what to do>`, never a traceback nor a secret.

    Unknown errors get their class and first line, and a pointer to `--verbose`."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

    from radiator_assets.delivery.sheets_api import SheetsCredentialsError
    from radiator_assets.metrics.config import MetricsConfigError
    from radiator_assets.storage.embedded import EmbeddedServerError
    from radiator_assets.storage.engine import DatabaseURLError
    from radiator_assets.storage.migration_ops import DriftError
    from radiator_assets.sync.by_keys import KeyInputError
    from radiator_assets.tracker.errors import TrackerConfigError, TrackerError

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return CONFIG_ERROR, _settings_lines(exc)
    if isinstance(exc, MetricsConfigError):
        return CONFIG_ERROR, [
            f"{f'{issue.key}: ' if issue.key else ''}{issue.message} "
            f"({exc.source}{f', line {issue.line}' if issue.line else ''})"
            for issue in exc.issues
        ]
    if isinstance(exc, UsageError):
        return CONFIG_ERROR, [str(exc)]
    if isinstance(exc, KeyInputError):
        return CONFIG_ERROR, [
            f"{_first_line(exc)}: one issue key a line (blank lines and # comments are ignored)"
        ]
    if isinstance(exc, SheetsCredentialsError):  # names the variable, never the path
        return CONFIG_ERROR, [str(exc)]
    if isinstance(exc, FileNotFoundError):
        return CONFIG_ERROR, [_first_line(exc) or f"not found: {exc.filename}"]
    if isinstance(exc, DatabaseURLError):
        return CONFIG_ERROR, [str(exc)]  # names RADIATOR_DATABASE_URL and the fix
    if isinstance(exc, TrackerConfigError):
        return CONFIG_ERROR, [
            f"{_first_line(exc)} ({_tracker_where()}): check TRACKER_TOKEN, "
            "TRACKER_AUTH_SCHEME and TRACKER_ORG_ID or TRACKER_CLOUD_ORG_ID"
        ]
    if isinstance(exc, TrackerError):
        return RUNTIME_ERROR, [
            f"{_first_line(exc)} ({_tracker_where()}): try again later; what was "
            "stored is kept and the next sync resumes"
        ]
    if isinstance(exc, DriftError):  # the message says which rows and what to do
        return RUNTIME_ERROR, [f"the schema cannot be upgraded: {_first_line(exc)}"]
    if isinstance(exc, OperationalError):
        return RUNTIME_ERROR, [
            f"cannot use the database: {_first_line(exc.orig)} ({_database_where()}): "
            "check RADIATOR_DATABASE_URL and that the server is running"
        ]
    if isinstance(exc, ProgrammingError):
        if getattr(exc.orig, "pgcode", None) == "42P01":  # undefined_table
            return RUNTIME_ERROR, [
                f"the warehouse is not migrated: {_first_line(exc.orig)} "
                f"({_database_where()}): run `radiator db upgrade`"
            ]
        return RUNTIME_ERROR, [
            f"database error: {_first_line(exc.orig)} ({_database_where()}): "
            "run `radiator db check`"
        ]
    if isinstance(exc, SQLAlchemyError):
        return RUNTIME_ERROR, [
            f"database error: {type(exc).__name__}: {_first_line(exc)} ({_database_where()})"
            ": run with --verbose for the traceback"
        ]
    if isinstance(exc, EmbeddedServerError):
        return RUNTIME_ERROR, [
            f"{_first_line(exc)} (embedded server): set RADIATOR_DATABASE_URL to use another "
            "server, or run with --verbose for its log"
        ]
    return RUNTIME_ERROR, [
        f"{type(exc).__name__}: {_first_line(exc)}: run with --verbose for the traceback"
    ]
