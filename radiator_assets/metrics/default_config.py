"""The bundled metrics configuration, as YAML text.

This text is the single source: `MetricsConfig.default()` parses it and the
repository's `radiator.example.yaml` is an exact copy (a test asserts it).
After editing, regenerate the example with

    python -m radiator_assets.metrics.default_config > radiator.example.yaml

It lives in a Python module rather than a package data file so it ships in any
wheel without packaging configuration.
"""

DEFAULT_CONFIG_YAML = """\
# radiator metrics configuration (example).
#
# Copy this file to radiator.yaml (or point RADIATOR_CONFIG at your copy) and
# edit it. Every problem is reported on load with its key and line number.
# To convert the predecessor's files (status_order.txt, quarters.txt,
# cpo_authors.txt, teamsleads.txt): radiator config import DIR

# Statuses in workflow order: the order matters for DevLT (its fallback end is
# the first status listed after the external test status, cancelled excluded).
# block: backlog | discovery | delivery | done | cancelled | pause.
# A status matches by `name` (display name) or by the optional `key` (the
# Tracker status key), case-insensitively; a display name wins over another
# status's key. Statuses not listed here count as discovery (and are reported
# by an asset check).
statuses:
  # Product queue (CPO)
  - {name: "Открыт", key: open, block: backlog}
  - {name: "Discovery backlog", key: discoveryBacklog, block: discovery}
  - {name: "В работе", key: discoveryInProgress, block: discovery}
  - {name: "Discovery / В работе", block: discovery}
  - {name: "Готова к разработке", key: readyForDevelopment, block: delivery}
  - {name: "МП / В работе", key: mpInProgress, block: delivery}
  - {name: "МП / Внешний тест", key: mpExternalTest, block: delivery}
  - {name: "Готово к релизу", key: readyForRelease, block: delivery}
  - {name: "Выполнено", key: closed, block: done}
  - {name: "Выполнено с ИТ", key: closedWithIt, block: done}
  - {name: "Отменено", key: cancelled, block: cancelled}
  - {name: "Приостановлено", key: paused, block: pause}
  # Implementation queue (FULLSTACK)
  - {name: "Open", key: new, block: backlog}
  - {name: "In Progress", key: inProgress, block: delivery}
  - {name: "Review", key: inReview, block: delivery}
  - {name: "Testing", key: testing, block: delivery}
  - {name: "Внешний тест", key: externalTest, block: delivery}
  - {name: "Approval", key: approval, block: delivery}
  - {name: "Regression", key: regression, block: delivery}
  - {name: "Done", key: done, block: done}

# Statuses with a special meaning for the metrics.
roles:
  pause: "Приостановлено"
  ready_for_development: "Готова к разработке"
  in_development: "МП / В работе"
  external_test: "МП / Внешний тест"
  discovery_backlog: "Discovery backlog"
  testing_returns: ["Testing", "Внешний тест"]

queues:
  product: CPO
  implementation: FULLSTACK

# Reporting periods (business quarters); both ends inclusive as whole UTC days.
periods:
  - {name: "Q1 2025", start: 2024-12-30, end: 2025-03-30}
  - {name: "Q2 2025", start: 2025-03-31, end: 2025-06-29}
  - {name: "Q3 2025", start: 2025-06-30, end: 2025-09-28}
  - {name: "Q4 2025", start: 2025-09-29, end: 2025-12-28}
  - {name: "Q1 2026", start: 2025-12-29, end: 2026-03-29}
  - {name: "Q2 2026", start: 2026-03-30, end: 2026-06-28}
  - {name: "Q3 2026", start: 2026-06-29, end: 2026-09-27}
  - {name: "Q4 2026", start: 2026-09-28, end: 2027-01-03}

# Task author -> team, team -> lead. Unknown or empty -> no_team.
teams:
  no_team: "Без команды"
  authors:
    "Author 1": "Team Alpha"
    "Author 2": "Team Alpha"
    "Author 3": "Team Beta"
    "Author 4": "Team Beta"
    "Author 5": "Team Gamma"
    "Author 6": "Team Alpha"
    "Author 7": "Team Beta"
    "Author 8": "Team Gamma"
    "Author 9": "Team Delta"
    "Author 10": "Team Alpha"
    "Author 11": "Team Beta"
    "Author 12": "Team Gamma"
    "Author 13": "Team Delta"
    "Author 14": "Team Alpha"
    "Author 15": "Team Beta"
    "Author 16": "Team Gamma"
    "Author 17": "Team Delta"
    "Author 18": "Team Alpha"
    "Author 19": "Team Beta"
    "Author 20": "Team Gamma"
    "Author 21": "Team Delta"
    "Author 22": "Team Alpha"
    "Author 23": "Team Beta"
    "Author 24": "Team Gamma"
    "Author 25": "Team Delta"
    "Author 26": "Team Alpha"
    "Author 27": "Team Beta"
    "Author 28": "Team Gamma"
    "Author 29": "Team Delta"
    "Author 30": "Team Alpha"
    "Author 31": "Team Beta"
    "Author 32": "Team Gamma"
    "Author 33": "Team Delta"
    "Author 34": "Team Alpha"
    "Author 35": "Team Beta"
    "Author 36": "Team Gamma"
    # Author 37..40 have no team on purpose: they show up as no_team.
  leads:
    "Team Alpha": "Lead A"
    "Team Beta": "Lead B"
    "Team Gamma": "Lead C"
    "Team Delta": "Lead D"

# Tracker custom-field ids (a queue-local `<hex>--team` matches `team` too).
custom_fields:
  team: team
  product_team: prodteam
  quarter: quarter

# Stays shorter than this (seconds) are mis-clicks and ignored; 0 disables.
min_stay_seconds: 300

# Highlight values above these (days).
thresholds:
  ttm: 180
  ttd: 60
  tail: 60
  devlt: 60

# Compute everything as of this UTC timestamp; empty = the run's start time.
# as_of: 2025-07-01T00:00:00Z
as_of: null

# Testing returns by sub-epic: implementation tasks created on or after this day.
subepic_returns:
  start_date: 2025-01-01

# Testing-returns reports: the statuses each "returns into" column counts (by name or key,
# case-insensitively; a status feeds one column only). The Testing and external-test
# columns count roles.testing_returns. The predecessor's FULLSTACK names come first.
return_statuses:
  in_progress: ["InProgress", "In Progress"]
  review: ["Ревью", "Review"]
  approval: ["Апрув", "Approval"]
  regression: ["Регресс-тест", "Regression"]
  done: ["Done"]
"""


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    import sys

    sys.stdout.write(DEFAULT_CONFIG_YAML)
