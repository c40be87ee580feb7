"""Convert the predecessor's configuration files into a `radiator.yaml`.

The predecessor kept four `;`-separated UTF-8 text files in one directory:

* `status_order.txt`  `Status;block` per line, in workflow order (required)
* `quarters.txt`      `name;YYYY-MM-DD;YYYY-MM-DD`
* `cpo_authors.txt`   `Author;Team` (an empty team means "no team")
* `teamsleads.txt`    `Team;Lead`

A BOM, blank lines, `#` comment lines and whitespace around fields are
tolerated; any other malformed line is a `PredecessorConfigError` naming the file and
line. Missing optional files give empty sections. Roles, queues, thresholds and
the other settings get the defaults, written out so the user can edit them.
The roles are the predecessor's built-in status names; a role status that
`status_order.txt` does not list (typically the implementation queue's testing
statuses) is appended from the bundled example, with its block, so the roles
name listed statuses as a configuration file must.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import yaml

from radiator_assets.metrics.config import (
    BLOCKS,
    MetricsConfig,
    MetricsConfigError,
    Roles,
    normalize_status,
    parse_metrics_config,
)

STATUS_FILE = "status_order.txt"
PERIODS_FILE = "quarters.txt"
AUTHORS_FILE = "cpo_authors.txt"
LEADS_FILE = "teamsleads.txt"

_BLOCK_ALIASES = {"canceled": "cancelled", "cancel": "cancelled", "paused": "pause"}


class PredecessorConfigError(ValueError):
    """A predecessor file is missing or has a malformed line (file and line named)."""


@dataclass(frozen=True)
class _Line:
    path: Path
    number: int
    fields: list[str]

    def fail(self, message: str) -> PredecessorConfigError:
        return PredecessorConfigError(f"{self.path}, line {self.number}: {message}")


def _read_lines(path: Path, *, fields: int) -> list[_Line]:
    """Meaningful lines of a `;`-separated file, each split into exactly `fields` parts."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredecessorConfigError(f"{path}: not UTF-8 text ({exc})") from None
    lines: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip().lstrip("\ufeff").strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [part.strip() for part in stripped.split(";")]
        # tolerate one trailing separator ("Author;Team;")
        if len(parts) == fields + 1 and parts[-1] == "":
            parts = parts[:-1]
        line = _Line(path, number, parts)
        if len(parts) != fields:
            expected = {2: "two fields", 3: "three fields"}[fields]
            raise line.fail(f"expected {expected} separated by ';', got {stripped!r}")
        lines.append(line)
    return lines


def _statuses(directory: Path) -> list[dict[str, str]]:
    path = directory / STATUS_FILE
    if not path.is_file():
        raise PredecessorConfigError(f"{path}: not found (the status list is required)")
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line in _read_lines(path, fields=2):
        name, block = line.fields
        block = _BLOCK_ALIASES.get(block.lower(), block.lower())
        if not name:
            raise line.fail("empty status name")
        if block not in BLOCKS:
            expected = ", ".join(BLOCKS)
            raise line.fail(f"unknown block {line.fields[1]!r}; expected one of {expected}")
        token = normalize_status(name)
        if token in seen:
            raise line.fail(f"status {name!r} is already listed on line {seen[token]}")
        seen[token] = line.number
        out.append({"name": name, "block": block})
    return out


def _periods(directory: Path) -> list[dict[str, Any]]:
    path = directory / PERIODS_FILE
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in _read_lines(path, fields=3):
        name, start_text, end_text = line.fields
        if not name:
            raise line.fail("empty period name")
        try:
            start, end = date.fromisoformat(start_text), date.fromisoformat(end_text)
        except ValueError:
            got = f"{start_text!r}, {end_text!r}"
            raise line.fail(f"dates must look like 2025-01-31, got {got}") from None
        if end < start:
            raise line.fail(f"end {end} is before start {start}")
        out.append({"name": name, "start": start, "end": end})
    return out


def _pairs(directory: Path, filename: str, what: str) -> dict[str, str]:
    path = directory / filename
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in _read_lines(path, fields=2):
        left, right = line.fields
        if not left:
            raise line.fail(f"empty {what}")
        out[left] = right  # a later line wins, as in the predecessor's dict
    return out


def import_predecessor_config(directory: Path) -> str:
    """YAML text of a metrics configuration converted from the predecessor's files
    in `directory`. The text is validated (it loads with `load_metrics_config`);
    raises `PredecessorConfigError` naming the file and line of a bad line."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PredecessorConfigError(f"{directory}: not a directory")
    defaults = MetricsConfig()
    statuses = _statuses(directory)
    added = _role_statuses_missing_from(statuses)
    document: dict[str, Any] = {
        "statuses": statuses + added,
        "roles": Roles().model_dump(mode="json"),
        "queues": defaults.queues.model_dump(mode="json"),
        "periods": _periods(directory),
        "teams": {
            "no_team": defaults.teams.no_team,
            "authors": _pairs(directory, AUTHORS_FILE, "author"),
            "leads": _pairs(directory, LEADS_FILE, "team"),
        },
        "custom_fields": defaults.custom_fields.model_dump(mode="json"),
        "min_stay_seconds": defaults.min_stay_seconds,
        "thresholds": defaults.thresholds.model_dump(mode="json"),
        "as_of": None,
        "return_statuses": defaults.return_statuses.model_dump(mode="json"),
    }
    header = (
        f"# radiator metrics configuration, converted from {directory.name or directory}/\n"
        f"# ({STATUS_FILE}, {PERIODS_FILE}, {AUTHORS_FILE}, {LEADS_FILE}).\n"
        "# Statuses are in workflow order (DevLT uses it); see radiator.example.yaml\n"
        "# for what every key means.\n"
    )
    if added:
        names = ", ".join(status["name"] for status in added)
        header += (
            f"# The last {len(added)} statuses ({names}) are not in {STATUS_FILE}: the roles\n"
            "# name them, so they were added from radiator.example.yaml with its blocks.\n"
        )
    text = header + yaml.safe_dump(
        document, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100
    )
    try:
        parse_metrics_config(text, source="<converted configuration>")
    except MetricsConfigError as exc:
        raise PredecessorConfigError(f"the converted configuration is invalid:\n{exc}") from None
    return text


def _role_statuses_missing_from(statuses: list[dict[str, str]]) -> list[dict[str, str]]:
    """The bundled example's entries for the default roles' statuses not in `statuses`."""
    listed = {normalize_status(status["name"]) for status in statuses}
    example = MetricsConfig.default()
    roles = Roles()
    names = [
        roles.pause,
        roles.ready_for_development,
        roles.in_development,
        roles.external_test,
        roles.discovery_backlog,
        *roles.testing_returns,
    ]
    added: list[dict[str, str]] = []
    for name in names:
        found = example.status(name)
        if normalize_status(name) in listed or found is None:
            continue
        listed.add(normalize_status(name))
        added.append({"name": found.name, "block": found.block})
    return added


def config_import(
    directory: str | Path,
    output_path: str | Path = "radiator.yaml",
    *,
    force: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`radiator config import DIR [--output radiator.yaml] [--force]`: convert and
    write. Returns the exit code (0 ok, 1 on a conversion error, 2 when the output
    exists and `force` is not set); messages go to stdout / stderr."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    output = Path(output_path)
    if output.exists() and not force:
        print(f"{output} already exists; pass --force to overwrite it", file=err)
        return 2
    try:
        text = import_predecessor_config(Path(directory))
    except PredecessorConfigError as exc:
        print(f"config import failed: {exc}", file=err)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    config = parse_metrics_config(text, source=str(output))
    print(
        f"wrote {output}: {len(config.statuses)} statuses, {len(config.periods)} periods, "
        f"{len(config.teams.authors)} authors, {len(config.teams.leads)} team leads",
        file=out,
    )
    listed = {normalize_status(s["name"]) for s in _statuses(Path(directory))}
    added = [s.name for s in config.statuses if normalize_status(s.name) not in listed]
    if added:
        print(
            f"added {len(added)} statuses the roles name but {STATUS_FILE} does not list "
            f"({', '.join(added)}): check their blocks in {output}",
            file=out,
        )
    return 0
