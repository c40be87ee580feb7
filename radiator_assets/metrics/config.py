"""The metrics configuration: the one YAML file a user edits (`radiator.yaml`).

It says which block every status belongs to (in workflow order: the order is
used by DevLT), which statuses play the special roles of the metrics, the
reporting periods, the author -> team -> lead maps and the thresholds.

`load_metrics_config(path)` validates the file on load; every problem is
reported with the key *and* the line of the file it comes from (the YAML node
tree is composed alongside the data, so pydantic's error locations map back to
lines). A file must also make sense as a whole: it is not empty, it lists
statuses, and every role (given or default) names a listed status; the model
itself does not insist, so code can build partial configurations.
`MetricsConfig.default()` is the bundled example (`radiator.example.yaml`
at the repository root is generated from the same text) and works without a
file.

Status matching is by the status key or its display name, case-insensitively
(`casefold`, surrounding whitespace ignored). Unknown statuses belong to the
`discovery` block and can be listed with `unknown_statuses` so an asset check
can warn about them. The configuration is frozen, so the status, team and lead
look-ups remember their answers per argument (the engine asks the same few
questions for every stay of every task).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

Block = Literal["backlog", "discovery", "delivery", "done", "cancelled", "pause"]
BLOCKS: tuple[str, ...] = ("backlog", "discovery", "delivery", "done", "cancelled", "pause")
UNKNOWN_STATUS_BLOCK = "discovery"
NO_TEAM = "Без команды"

Loc = tuple[str | int, ...]


def normalize_status(name: str | None) -> str:
    """The matching token of a status name or key: stripped and case-folded."""
    return (name or "").strip().casefold()


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration file: the key path, its line (1-based) and what is wrong."""

    key: str
    line: int | None
    message: str

    def render(self, source: str) -> str:
        where = f"{source}, line {self.line}" if self.line is not None else source
        return f"{where}: {self.key or '(top level)'}: {self.message}"


class MetricsConfigError(ValueError):
    """The metrics configuration file is invalid; `issues` lists every problem found."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]):
        self.source = source
        self.issues = tuple(issues)
        lines = [f"invalid metrics configuration {source}:"]
        lines += [f"  {issue.render(source)}" for issue in self.issues]
        super().__init__("\n".join(lines))


class _SemanticIssues(ValueError):
    """Raised by cross-field validators: carries exact locations for every issue."""

    def __init__(self, issues: list[tuple[Loc, str]]):
        self.issues = issues
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in issues))


def format_loc(loc: Iterable[str | int]) -> str:
    """`('periods', 0, 'end')` -> `periods[0].end`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# --------------------------------------------------------------------------- models


def _date_not_timestamp(value: Any) -> Any:
    """A date field's raw value, refused when it is a timestamp (a day is meant)."""
    if isinstance(value, datetime):
        raise ValueError("expected a date like 2025-01-31, not a timestamp")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StatusConfig(_Model):
    """One workflow status: its display name, its block and optionally its Tracker key."""

    name: str = Field(min_length=1)
    block: Block
    key: str | None = None

    @field_validator("block", mode="before")
    @classmethod
    def _block_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("key")
    @classmethod
    def _empty_key(cls, value: str | None) -> str | None:
        return value or None

    @property
    def tokens(self) -> tuple[str, ...]:
        tokens = [normalize_status(self.name)]
        if self.key and normalize_status(self.key) not in tokens:
            tokens.append(normalize_status(self.key))
        return tuple(tokens)


class Roles(_Model):
    """Statuses with a special meaning for the metrics (defaults: the predecessor's names)."""

    pause: str = "Приостановлено"
    ready_for_development: str = "Готова к разработке"
    in_development: str = "МП / В работе"
    external_test: str = "МП / Внешний тест"
    discovery_backlog: str = "Discovery backlog"
    testing_returns: tuple[str, ...] = ("Testing", "Внешний тест")


class Queues(_Model):
    product: str = "CPO"
    implementation: str = "FULLSTACK"


class Period(_Model):
    """A named reporting period; both ends inclusive as whole days (UTC)."""

    name: str = Field(min_length=1)
    start: date
    end: date

    @field_validator("start", "end", mode="before")
    @classmethod
    def _plain_date(cls, value: Any) -> Any:
        return _date_not_timestamp(value)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def contains(self, moment: datetime | date) -> bool:
        """True when `moment` falls on a day from `start` to `end` inclusive (UTC days)."""
        day = _utc_day(moment)
        return self.start <= day <= self.end


class Teams(_Model):
    """author -> team and team -> lead; unknown or empty resolve to `no_team`."""

    no_team: str = Field(default=NO_TEAM, min_length=1)
    authors: dict[str, str] = Field(default_factory=dict)
    leads: dict[str, str] = Field(default_factory=dict)

    @field_validator("authors", "leads", mode="before")
    @classmethod
    def _none_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("" if v is None else v) for k, v in value.items()}
        return {} if value is None else value


class CustomFields(_Model):
    """Tracker custom-field ids (a queue-local `<hex>--team` matches `team` too)."""

    team: str = "team"
    product_team: str = "prodteam"
    business_client: str = "businessClient"
    #: the quarter an epic is planned for (the sub-epic returns report's "epic quarter")
    quarter: str = "quarter"


class SubepicReturns(_Model):
    """The sub-epic returns report: implementation tasks created on or after `start_date`
    (00:00 UTC) are its rows (the predecessor's `--start-date`, default 2025-01-01)."""

    start_date: date = date(2025, 1, 1)

    @field_validator("start_date", mode="before")
    @classmethod
    def _plain_date(cls, value: Any) -> Any:
        return _date_not_timestamp(value)


class ReturnStatuses(_Model):
    """The statuses each "returns into" column of the testing-returns reports counts
    (report_testing_returns, report_subepic_returns), matched by name or key like any
    status; the Testing and external-test columns count `roles.testing_returns`.

    Defaults: the predecessor's FULLSTACK status names (its columns "Возвраты InProgress /
    Ревью / Апрув / Регресс-тест / Done" count exactly these), then the bundled example
    workflow's. A status may feed one column only."""

    in_progress: tuple[str, ...] = ("InProgress", "In Progress")
    review: tuple[str, ...] = ("Ревью", "Review")
    approval: tuple[str, ...] = ("Апрув", "Approval")
    regression: tuple[str, ...] = ("Регресс-тест", "Regression")
    done: tuple[str, ...] = ("Done",)

    @model_validator(mode="after")
    def _one_column_per_status(self) -> ReturnStatuses:
        issues: list[tuple[Loc, str]] = []
        seen: dict[str, str] = {}
        for column in type(self).model_fields:
            for i, name in enumerate(getattr(self, column)):
                token = normalize_status(name)
                if not token:
                    issues.append(((column, i), "empty status name"))
                elif seen.setdefault(token, column) != column:
                    issues.append(((column, i), f"{name!r} is already counted by {seen[token]}"))
        if issues:
            raise _SemanticIssues(issues)
        return self


class Thresholds(_Model):
    """Values above these (in days) are highlighted in reports."""

    ttm: int = Field(default=180, ge=0)
    ttd: int = Field(default=60, ge=0)
    tail: int = Field(default=60, ge=0)
    devlt: int = Field(default=60, ge=0)

    def for_metric(self, metric: str) -> int | None:
        return getattr(self, metric, None) if metric in type(self).model_fields else None


class MetricsConfig(_Model):
    """The whole metrics configuration; see `radiator.example.yaml` for the file layout."""

    statuses: tuple[StatusConfig, ...] = ()
    roles: Roles = Field(default_factory=Roles)
    queues: Queues = Field(default_factory=Queues)
    periods: tuple[Period, ...] = ()
    teams: Teams = Field(default_factory=Teams)
    custom_fields: CustomFields = Field(default_factory=CustomFields)
    min_stay_seconds: int = Field(default=300, ge=0)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    as_of: datetime | None = None
    subepic_returns: SubepicReturns = Field(default_factory=SubepicReturns)
    return_statuses: ReturnStatuses = Field(default_factory=ReturnStatuses)

    # the status indexes and memoised look-up answers (see `_Lookups`), built on the
    # first look-up; never compared, copied or pickled
    _lookups: _Lookups | None = PrivateAttr(default=None)

    @field_validator("as_of", mode="before")
    @classmethod
    def _timestamp_only(cls, value: Any) -> Any:
        date_text = isinstance(value, str) and _DATE_ONLY.fullmatch(value)
        if date_text or (isinstance(value, date) and not isinstance(value, datetime)):
            raise ValueError("give a full UTC timestamp such as 2025-07-01T00:00:00Z, not a date")
        return value

    @field_validator("as_of")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _cross_checks(self) -> MetricsConfig:
        issues: list[tuple[Loc, str]] = []
        seen_names: dict[str, int] = {}
        seen_tokens: dict[str, int] = {}
        for i, status in enumerate(self.statuses):
            name_token = normalize_status(status.name)
            if name_token in seen_names:
                j = seen_names[name_token]
                issues.append(
                    (("statuses", i, "name"), f"{status.name!r} is already listed as statuses[{j}]")
                )
                continue
            seen_names[name_token] = i
            for field, token in zip(("name", "key"), status.tokens, strict=False):
                j = seen_tokens.get(token)
                if j is not None and self.statuses[j].block != status.block:
                    issues.append(
                        (
                            ("statuses", i, field),
                            f"{token!r} also matches statuses[{j}] ({self.statuses[j].name!r}, "
                            f"block {self.statuses[j].block}) but this one is {status.block}",
                        )
                    )
                seen_tokens.setdefault(token, i)
        period_names: dict[str, int] = {}
        for i, period in enumerate(self.periods):
            if period.name in period_names:
                issues.append(
                    (
                        ("periods", i, "name"),
                        f"{period.name!r} is already used by periods[{period_names[period.name]}]",
                    )
                )
            period_names.setdefault(period.name, i)
            for j, other in enumerate(self.periods[:i]):
                if period.start <= other.end and other.start <= period.end:
                    issues.append(
                        (
                            ("periods", i),
                            f"{period.name!r} ({period.start}..{period.end}) overlaps "
                            f"periods[{j}] {other.name!r} ({other.start}..{other.end})",
                        )
                    )
        if issues:
            raise _SemanticIssues(issues)
        return self

    def __eq__(self, other: object) -> bool:
        # compare the configuration only, not the look-up caches
        if not isinstance(other, MetricsConfig):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # holds dicts: not hashable

    def _lookups_(self) -> _Lookups:
        """This configuration's look-up caches, fetched without pydantic's `__getattr__`.

        They belong to the field values they were built from (`self.__dict__`):
        `model_copy` copies the private attributes but gives the copy a new
        `__dict__` (with the updated values), so a copy rebuilds its own."""
        lookups = self.__pydantic_private__["_lookups"]  # type: ignore[index]
        if lookups is None or lookups.fields is not self.__dict__:
            lookups = _Lookups(self)
            self.__pydantic_private__["_lookups"] = lookups  # type: ignore[index]
        return lookups

    # ----------------------------------------------------------------- construction

    @classmethod
    def default(cls) -> MetricsConfig:
        """The bundled example configuration (identical to `radiator.example.yaml`).

        Parsed once and cached; the model is frozen, treat it as read-only."""
        return _default_config()

    # ----------------------------------------------------------------- statuses

    # Every look-up below is memoised per argument (the configuration is frozen,
    # so an answer depends on its arguments only): a hit costs one dict probe.
    # The engine asks the same few questions for every stay of every task.

    def status(self, name: str | None) -> StatusConfig | None:
        """The configured status matching `name` (by key or display name), or None."""
        memo = self._lookups_().status
        try:
            return memo[name]
        except KeyError:
            pass
        found = self._lookups_().by_token.get(normalize_status(name))
        return _remember(memo, name, found[1] if found is not None else None)

    def is_known(self, status: str | None) -> bool:
        return self.status(status) is not None

    def block_of(self, status: str | None) -> str:
        """The block of a status; unknown statuses are `discovery`."""
        memo = self._lookups_().block_of
        try:
            return memo[status]
        except KeyError:
            pass
        found = self.status(status)
        return _remember(memo, status, found.block if found is not None else UNKNOWN_STATUS_BLOCK)

    def block(self, status: str | None) -> str:
        """The block for reports: `pause` for any pause stay (see `is_pause`), else `block_of`."""
        memo = self._lookups_().block
        try:
            return memo[status]
        except KeyError:
            pass
        return _remember(memo, status, "pause" if self.is_pause(status) else self.block_of(status))

    def unknown_statuses(self, statuses: Iterable[str | None]) -> list[str]:
        """The distinct statuses (in first-seen order) that the configuration does not list."""
        memo = self._lookups_().unknown_token
        out: list[str] = []
        seen: set[str] = set()
        for status in statuses:
            try:
                token = memo[status]
            except KeyError:
                token = normalize_status(status)
                if self.is_known(status):
                    token = ""
                _remember(memo, status, token)
            if token and token not in seen:
                seen.add(token)
                out.append(status)  # type: ignore[arg-type]
        return out

    def same_status(self, status: str | None, other: str | None) -> bool:
        """True when both names denote the same status (same configured entry, or equal tokens)."""
        # the engine's hottest look-up (several per stay): `_lookups_` inlined
        lookups = self.__pydantic_private__["_lookups"]  # type: ignore[index]
        if lookups is None or lookups.fields is not self.__dict__:
            lookups = self._lookups_()
        memo = lookups.same_status
        key = (status, other)
        try:
            return memo[key]
        except KeyError:
            pass
        a, b = normalize_status(status), normalize_status(other)
        if a == b:
            return _remember(memo, key, True)
        found_a, found_b = lookups.by_token.get(a), lookups.by_token.get(b)
        same = found_a is not None and found_b is not None and found_a[0] == found_b[0]
        return _remember(memo, key, same)

    def is_pause(self, status: str | None) -> bool:
        """A pause stay: its block is `pause` or it is the pause role status."""
        memo = self._lookups_().is_pause
        try:
            return memo[status]
        except KeyError:
            pass
        pause = self.block_of(status) == "pause" or self.same_status(status, self.roles.pause)
        return _remember(memo, status, pause)

    def is_done(self, status: str | None) -> bool:
        return self.block_of(status) == "done"

    def is_cancelled(self, status: str | None) -> bool:
        return self.block_of(status) == "cancelled"

    def statuses_after(self, status: str | None) -> tuple[StatusConfig, ...]:
        """Statuses listed after `status` in the file, without the `cancelled` block.

        Empty when `status` is not listed. Used by DevLT's fallback end."""
        memo = self._lookups_().statuses_after
        try:
            return memo[status]
        except KeyError:
            pass
        found = self._lookups_().by_token.get(normalize_status(status))
        after: tuple[StatusConfig, ...] = ()
        if found is not None:
            after = tuple(s for s in self.statuses[found[0] + 1 :] if s.block != "cancelled")
        return _remember(memo, status, after)

    # ----------------------------------------------------------------- teams and periods

    def team_of(self, author: str | None) -> str:
        """The author's team; unknown, empty or unmapped authors get `teams.no_team`."""
        memo = self._lookups_().team_of
        try:
            return memo[author]
        except KeyError:
            pass
        name = (author or "").strip()
        team = self.teams.authors.get(name)
        if team is None and name:
            folded = name.casefold()
            team = next((t for a, t in self.teams.authors.items() if a.casefold() == folded), None)
        return _remember(
            memo, author, team.strip() if team and team.strip() else self.teams.no_team
        )

    def lead_of(self, team: str | None) -> str:
        """The team's lead; an unknown or empty team (or lead) gives `teams.no_team`."""
        memo = self._lookups_().lead_of
        try:
            return memo[team]
        except KeyError:
            pass
        name = (team or "").strip()
        lead = self.teams.leads.get(name)
        if lead is None and name:
            folded = name.casefold()
            lead = next((v for t, v in self.teams.leads.items() if t.casefold() == folded), None)
        return _remember(memo, team, lead.strip() if lead and lead.strip() else self.teams.no_team)

    def period_of(self, moment: datetime | date | None) -> str | None:
        """The name of the period whose days (inclusive, UTC) contain `moment`, or None."""
        if moment is None:
            return None
        day = _utc_day(moment)
        for period in self.periods:
            if period.start <= day <= period.end:
                return period.name
        return None

    def resolve_as_of(self, run_start: datetime | None = None) -> datetime:
        """`as_of` from the file, else the run's start, else now (always UTC)."""
        if self.as_of is not None:
            return self.as_of
        return as_utc(run_start) if run_start is not None else datetime.now(UTC)


#: a memo that grows past this many answers (a flood of distinct names) starts afresh
MEMO_LIMIT = 100_000


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store `value` under `key` in a look-up memo and return it."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


class _Lookups:
    """The status index and the memoised look-up answers of one `MetricsConfig`.

    A plain object (its attributes are slots, cheap to read) kept in the
    model's private attribute `_lookups`. Pydantic serves private attributes
    through `BaseModel.__getattr__`, only after the ordinary attribute look-up
    has failed, which made every status look-up slow; `MetricsConfig._lookups_`
    reads it straight from the `__pydantic_private__` slot instead.

    It is never copied or pickled (`__reduce__` gives None): a copy or an
    unpickled configuration builds its own on its first look-up."""

    __slots__ = (
        "block",
        "block_of",
        "by_token",
        "fields",
        "is_pause",
        "lead_of",
        "same_status",
        "status",
        "statuses_after",
        "team_of",
        "unknown_token",
    )

    def __init__(self, config: MetricsConfig) -> None:
        #: the field values these answers were computed from (identity is checked)
        self.fields = config.__dict__
        #: token -> (index, status); display names first: a name wins over another status's key
        self.by_token: dict[str, tuple[int, StatusConfig]] = {}
        for index, status in enumerate(config.statuses):
            self.by_token.setdefault(normalize_status(status.name), (index, status))
        for index, status in enumerate(config.statuses):
            if status.key:
                self.by_token.setdefault(normalize_status(status.key), (index, status))
        # one memo per question, keyed by the argument(s) exactly as given
        self.status: dict[str | None, StatusConfig | None] = {}
        self.block_of: dict[str | None, str] = {}
        self.block: dict[str | None, str] = {}
        self.is_pause: dict[str | None, bool] = {}
        self.same_status: dict[tuple[str | None, str | None], bool] = {}
        self.statuses_after: dict[str | None, tuple[StatusConfig, ...]] = {}
        #: status -> its token when the configuration does not list it, else ""
        self.unknown_token: dict[str | None, str] = {}
        self.team_of: dict[str | None, str] = {}
        self.lead_of: dict[str | None, str] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_no_lookups, ())


def _no_lookups() -> None:
    return None


@lru_cache(maxsize=1)
def _default_config() -> MetricsConfig:
    from radiator_assets.metrics.default_config import DEFAULT_CONFIG_YAML

    return parse_metrics_config(DEFAULT_CONFIG_YAML, source="<default metrics config>")


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _utc_day(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        return as_utc(moment).date()
    return moment


# --------------------------------------------------------------------------- loading


def load_metrics_config(path: str | Path) -> MetricsConfig:
    """Read and validate a metrics configuration file (UTF-8, BOM tolerated).

    Raises `FileNotFoundError` when the file is missing and `MetricsConfigError`
    (a `ValueError`) naming the key and line of every problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"metrics configuration {path} not found: copy radiator.example.yaml there, "
            "or convert the predecessor's files with `radiator config import DIR`"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetricsConfigError(
            str(path),
            [ConfigIssue("", None, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8")],
        ) from None
    return parse_metrics_config(text, source=str(path))


def load_configured_metrics_config(
    settings: Any = None, *, allow_default: bool = False
) -> MetricsConfig:
    """The configuration at `settings.metrics_config_path` (env `RADIATOR_CONFIG`,
    default `radiator.yaml`; `settings` defaults to `get_settings()`).

    A missing file raises `FileNotFoundError` unless `allow_default`, which then
    gives `MetricsConfig.default()` (handy for local runs against the emulator)."""
    if settings is None:
        from radiator_assets.settings import get_settings

        settings = get_settings()
    path = Path(settings.metrics_config_path)
    if allow_default and not path.exists():
        return MetricsConfig.default()
    return load_metrics_config(path)


class _Loader(yaml.SafeLoader):
    """Safe YAML whose dates stay text: pydantic parses them, so a date that does not exist
    (2025-06-31) is reported with its key and line instead of stopping the YAML parser."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)
_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def parse_metrics_config(text: str, *, source: str = "<string>") -> MetricsConfig:
    """Validate configuration YAML text; errors name `source`, the line and the key."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise MetricsConfigError(source, [ConfigIssue("(yaml syntax)", line, problem)]) from None

    issues = _duplicate_keys(root, ())
    if data is None or data == {}:
        raise MetricsConfigError(
            source,
            [
                ConfigIssue(
                    "",
                    1,
                    "the file is empty: list the statuses, roles and periods of your "
                    "workflow (start from a copy of radiator.example.yaml)",
                )
            ],
        )
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else None
        issues.append(
            ConfigIssue("", line, "the file must be a mapping of keys (statuses, roles, ...)")
        )
    if issues:
        raise MetricsConfigError(source, issues)

    try:
        config = MetricsConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, _SemanticIssues):
                for sub_loc, message in cause.issues:
                    full = loc + tuple(sub_loc)
                    issues.append(ConfigIssue(format_loc(full), _line_of(root, full), message))
                continue
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check the spelling; see radiator.example.yaml)"
            elif error["type"] == "missing":
                message = "required key is missing"
            clean = tuple(p for p in loc if p != "[key]")
            issues.append(ConfigIssue(format_loc(clean), _line_of(root, clean), message))
        raise MetricsConfigError(source, issues) from None
    issues = _whole_file_issues(config, data, root)
    if issues:
        raise MetricsConfigError(source, issues)
    return config


def _whole_file_issues(
    config: MetricsConfig, data: dict[str, Any], root: yaml.Node | None
) -> list[ConfigIssue]:
    """What a user's file needs beyond valid keys: statuses, and roles that name them.

    Checked here, on loading a file, rather than in the model: code (and tests)
    build partial `MetricsConfig` objects on purpose. A role left out of the file
    takes its default (the predecessor's status names), which must be listed too;
    its problem is reported at the `roles` key, or at `statuses` without one."""
    if not config.statuses:
        return [
            ConfigIssue(
                "statuses",
                _line_of(root, ("statuses",)),
                "required: list your workflow's statuses in order, each with its block "
                "(see radiator.example.yaml)",
            )
        ]
    given = data.get("roles") if isinstance(data.get("roles"), dict) else {}
    fallback_loc: Loc = ("roles",) if "roles" in data else ("statuses",)
    issues: list[ConfigIssue] = []
    for field in Roles.model_fields:
        value = getattr(config.roles, field)
        names = (
            [(i, name) for i, name in enumerate(value)]
            if isinstance(value, tuple)
            else [(None, value)]
        )
        for index, name in names:
            if config.is_known(name):
                continue
            key = field if index is None else f"{field}[{index}]"
            if field in given:
                loc: Loc = ("roles", field) if index is None else ("roles", field, index)
                default = ""
            else:
                loc, default = fallback_loc, " (the default)"
            issues.append(
                ConfigIssue(
                    f"roles.{key}",
                    _line_of(root, loc),
                    f"{name!r}{default} is not one of the statuses listed (by name or key); "
                    f"add it to statuses, or set roles.{field} to a listed status",
                )
            )
    return issues


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest node on `loc` (the parent's line for a missing key)."""
    if root is None:
        return None
    node: yaml.Node = root
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part)
                ),
                None,
            )
            if match is None:
                return line
            key_node, node = match
            line = key_node.start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node | None, loc: Loc) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    ConfigIssue(
                        format_loc((*loc, key)),
                        line,
                        f"duplicate key (first given on line {seen[key]})",
                    )
                )
            seen.setdefault(key, line)
            issues += _duplicate_keys(value_node, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            issues += _duplicate_keys(item, (*loc, index))
    return issues
