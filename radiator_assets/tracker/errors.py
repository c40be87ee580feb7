"""Errors the Tracker client raises.

Every message names the endpoint so an operator can tell which call failed,
and none ever contains the token: messages are built only from the method,
URL, status and a redacted body snippet, never from request headers.
"""

from __future__ import annotations

SNIPPET_BYTES = 200


def body_snippet(body: bytes | str | None, limit: int = SNIPPET_BYTES) -> str:
    """The first `limit` bytes of a response body as readable text."""
    if body is None:
        return ""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("..." if len(raw) > limit else "")


class TrackerError(Exception):
    """Base class of everything the Tracker client raises on purpose."""


class TrackerConfigError(TrackerError):
    """401/403 (or a client built without a token/org): the credentials or the
    organisation header are wrong.

    Fatal: retrying cannot help, the user has to fix the configuration.
    """

    def __init__(
        self, message: str, *, status: int | None = None, endpoint: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class AccessDenied(TrackerConfigError):
    """403: the organisation header or the account's rights refuse this request.

    On the first request of a sync it is a configuration error like any other; on one
    issue's endpoint, after others answered, it means that issue is hidden from us,
    and callers record it for that issue instead of stopping the run.
    """


class TrackerUnavailable(TrackerError):
    """Transient failures (429, 5xx, timeouts, resets) outlasted the retry budget."""

    def __init__(self, endpoint: str, *, attempts: int, elapsed: float, last_error: str) -> None:
        super().__init__(
            f"Tracker unavailable: {endpoint} failed {attempts} time(s) over "
            f"{elapsed:.1f} s; last error: {last_error}"
        )
        self.endpoint = endpoint
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_error = last_error


class MalformedResponse(TrackerError):
    """The body is not the JSON the endpoint promises (truncated, HTML, wrong shape)."""

    def __init__(self, endpoint: str, reason: str, body: bytes | str | None = None) -> None:
        snippet = body_snippet(body)
        super().__init__(
            f"malformed response from {endpoint}: {reason}; body starts with: {snippet!r}"
        )
        self.endpoint = endpoint
        self.reason = reason
        self.snippet = snippet


class TrackerHTTPError(TrackerError):
    """A non-retryable HTTP status other than 401/403/404 (400, 409, 422, ...)."""

    def __init__(self, endpoint: str, status: int, body: bytes | str | None = None) -> None:
        snippet = body_snippet(body)
        super().__init__(f"Tracker answered HTTP {status} for {endpoint}: {snippet!r}")
        self.endpoint = endpoint
        self.status = status
        self.snippet = snippet


class NotFound(TrackerHTTPError):
    """HTTP 404 for something other than a known issue (e.g. an expired scroll)."""


class IssueGone(TrackerError):
    """404 for an issue: deleted, moved out of reach, or no longer visible to us.

    Callers record it (mark the task deleted) instead of failing the run.
    """

    def __init__(self, issue_id: str, endpoint: str | None = None) -> None:
        where = f" ({endpoint})" if endpoint else ""
        super().__init__(f"issue {issue_id} is gone: Tracker answered 404{where}")
        self.issue_id = issue_id
        self.endpoint = endpoint


class ListingIncomplete(TrackerError):
    """A search listing could not be read to its end (a scroll kept breaking).

    Whatever was yielded before is real data, but the listing as a whole is not:
    callers must not treat it as complete (no high-water mark, no deletions).
    """


class InvalidTrackerDatetime(ValueError):
    """A timestamp string that is not in any format Tracker uses."""
