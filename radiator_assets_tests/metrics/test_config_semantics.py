"""A user's configuration file must make sense as a whole, not only key by key:
an empty file, a file without statuses, or roles naming statuses the file does
not list would make every metric silently wrong. Each problem names the file,
the line and the key, like every other configuration error."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiator_assets.metrics.config import (
    MetricsConfig,
    MetricsConfigError,
    load_metrics_config,
    parse_metrics_config,
)
from radiator_assets.metrics.default_config import DEFAULT_CONFIG_YAML

STATUSES = """\
statuses:
  - {name: Open, key: open, block: backlog}
  - {name: Ready, key: readyForDevelopment, block: delivery}
  - {name: Dev, block: delivery}
  - {name: External test, key: ext, block: delivery}
  - {name: Testing, block: delivery}
  - {name: Backlog, block: discovery}
  - {name: On hold, block: pause}
  - {name: Done, block: done}
"""
ROLES = """\
roles:
  pause: On hold
  ready_for_development: readyfordevelopment
  in_development: Dev
  external_test: EXT
  discovery_backlog: Backlog
  testing_returns: [Testing, External test]
"""


def issues_of(text: str) -> list[tuple[str, int | None]]:
    with pytest.raises(MetricsConfigError) as info:
        parse_metrics_config(text, source="radiator.yaml")
    return [(issue.key, issue.line) for issue in info.value.issues]


def test_a_complete_file_with_roles_given_by_name_or_key_loads():
    config = parse_metrics_config(STATUSES + ROLES, source="radiator.yaml")

    assert (config.roles.ready_for_development, config.block_of(config.roles.external_test)) == (
        "readyfordevelopment",
        "delivery",
    )


def test_roles_naming_unconfigured_statuses_are_reported_with_file_and_line(tmp_path: Path):
    path = tmp_path / "radiator.yaml"
    text = STATUSES + ROLES.replace("in_development: Dev", "in_development: Devv").replace(
        "[Testing, External test]", "[Testing, QA]"
    )
    path.write_text(text, encoding="utf-8")

    with pytest.raises(MetricsConfigError) as info:
        load_metrics_config(path)
    message = str(info.value)

    assert [(i.key, i.line) for i in info.value.issues] == [
        ("roles.in_development", 13),
        ("roles.testing_returns[1]", 16),
    ]
    assert f"{path}, line 13: roles.in_development: 'Devv' is not one of the statuses" in message
    assert f"{path}, line 16: roles.testing_returns[1]: 'QA' is not one of the statuses" in message


def test_default_roles_naming_unlisted_statuses_are_reported_at_the_statuses_key():
    # No `roles` section: the defaults (the predecessor's names) must be listed too.
    text = "min_stay_seconds: 60\n" + STATUSES

    assert issues_of(text) == [
        ("roles.pause", 2),
        ("roles.ready_for_development", 2),
        ("roles.in_development", 2),
        ("roles.external_test", 2),
        ("roles.discovery_backlog", 2),
        ("roles.testing_returns[1]", 2),  # [0], Testing, is listed
    ]


def test_default_role_message_says_it_is_the_default():
    with pytest.raises(MetricsConfigError) as info:
        parse_metrics_config(STATUSES, source="radiator.yaml")

    assert "'Приостановлено' (the default) is not one of the statuses" in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "{}\n"])
def test_empty_config_file_is_an_error(tmp_path: Path, text: str):
    path = tmp_path / "radiator.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(MetricsConfigError) as info:
        load_metrics_config(path)

    assert [(i.key, i.line) for i in info.value.issues] == [("", 1)]
    assert "is empty" in str(info.value) and "radiator.example.yaml" in str(info.value)


def test_a_file_without_statuses_is_an_error():
    assert issues_of("min_stay_seconds: 60\nthresholds:\n  ttm: 90\n") == [("statuses", 1)]


def test_an_empty_status_list_is_an_error_at_its_line():
    assert issues_of("min_stay_seconds: 60\nstatuses: []\n" + ROLES) == [("statuses", 2)]


def test_the_bundled_example_passes_the_checks():
    assert parse_metrics_config(DEFAULT_CONFIG_YAML) == MetricsConfig.default()


def test_key_errors_are_reported_before_role_checks():
    # A typo in a block is the one problem named; roles are not checked on a broken file.
    text = STATUSES.replace("block: pause", "block: paused") + ROLES

    assert issues_of(text) == [("statuses[6].block", 8)]


def test_a_date_that_does_not_exist_is_reported_with_its_line() -> None:
    text = (
        "statuses:\n  - {name: Open, block: backlog}\n"
        "periods:\n  - {name: Q, start: 2025-06-31, end: 2025-07-31}\n"
    )
    with pytest.raises(MetricsConfigError) as error:
        parse_metrics_config(text, source="radiator.yaml")
    assert "radiator.yaml, line 4: periods[0].start" in str(error.value)


def test_a_file_that_is_not_utf8_is_reported_not_crashed(tmp_path) -> None:
    path = tmp_path / "radiator.yaml"
    path.write_bytes("statuses: []  # Открыт\n".encode("cp1251"))
    with pytest.raises(MetricsConfigError, match="not UTF-8 text"):
        load_metrics_config(path)


def test_as_of_given_as_a_bare_date_is_refused() -> None:
    text = "statuses:\n  - {name: Open, block: backlog}\nas_of: 2025-07-01\n"
    with pytest.raises(MetricsConfigError, match="full UTC timestamp"):
        parse_metrics_config(text, source="radiator.yaml")
