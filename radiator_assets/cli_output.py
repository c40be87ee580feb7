"""What the `radiator` command prints: sync summaries and plain text tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from radiator_assets.runner import SyncOutcome


def print_sync_summary(outcome: SyncOutcome) -> None:
    """What a sync did, in a few lines a person reads."""
    issues = outcome.metadata.get("tracker_issues", {})
    changelog = outcome.metadata.get("tracker_changelog", {})
    history = outcome.metadata.get("tracker_task_history", {})
    print(
        f"issues:    {issues.get('issues_seen', 0)} seen, {issues.get('rows_inserted', 0)} new, "
        f"{issues.get('rows_updated', 0)} updated, {issues.get('rows_unchanged', 0)} unchanged, "
        f"{issues.get('issues_marked_deleted', 0)} marked deleted "
        f"({issues.get('api_requests', 0)} requests)"
    )
    print(
        f"changelog: {changelog.get('issues_pending', 0)} issues fetched, "
        f"{changelog.get('rows_inserted', 0)} new entries, {changelog.get('issues_gone', 0)} gone "
        f"({changelog.get('api_requests', 0)} requests)"
    )
    print(
        f"history:   {history.get('tasks_touched', 0)} tasks rebuilt, "
        f"{history.get('rows_inserted', 0)} stays written, "
        f"{history.get('dagster/row_count', 0)} stays in total"
    )
    failed = [name for name, passed in outcome.checks.items() if not passed]
    passed = len(outcome.checks) - len(failed)
    print(f"checks:    {passed} passed, {len(failed)} failed {failed or ''}")
    print(f"run:       {outcome.run_id} ({'success' if outcome.success else 'FAILED'})")


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
