"""Small builders for metric tests: readable timestamps and contiguous histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from radiator_assets.metrics.stays import Stay, stays_from_transitions

YEAR = 2025


def dt(text: str) -> datetime:
    """`"01-03"` -> 2025-01-03T00:00Z; `"01-03 09:00:30"`; or a full ISO date/time (UTC)."""
    if len(text) >= 10 and text[4] == "-":
        value = datetime.fromisoformat(text)
    else:
        value = datetime.fromisoformat(f"{YEAR}-{text}")
    return value.replace(tzinfo=UTC)


def history(*steps: tuple[str, str | datetime]) -> list[Stay]:
    """A contiguous history: the first step is the status at creation, each next
    step a status change at that moment; the last stay is open."""
    moments = [dt(when) if isinstance(when, str) else when for _, when in steps]
    statuses = [status for status, _ in steps]
    return stays_from_transitions(
        moments[0], statuses[0], list(zip(moments[1:], statuses[1:], strict=True))
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
