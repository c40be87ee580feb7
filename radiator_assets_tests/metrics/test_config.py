"""The metrics configuration: loading, validation errors with lines, helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from radiator_assets.metrics.config import (
    MetricsConfig,
    MetricsConfigError,
    StatusConfig,
    load_configured_metrics_config,
    load_metrics_config,
    parse_metrics_config,
)
from radiator_assets.metrics.default_config import DEFAULT_CONFIG_YAML

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "radiator.example.yaml"


def fragment(text: str) -> MetricsConfig:
    """A partial configuration, for look-up tests: the model alone (a user's file must be
    complete, see test_config_semantics.py)."""
    return MetricsConfig.model_validate(yaml.safe_load(text))


def example_with(old: str, new: str) -> str:
    """The bundled example with one line changed: a complete file."""
    assert old in DEFAULT_CONFIG_YAML
    return DEFAULT_CONFIG_YAML.replace(old, new)


def error_of(text: str) -> MetricsConfigError:
    with pytest.raises(MetricsConfigError) as info:
        parse_metrics_config(text, source="radiator.yaml")
    return info.value


# ---------------------------------------------------------------- the example and default


def test_example_file_loads_with_the_product_workflow_first():
    config = load_metrics_config(EXAMPLE)

    assert [s.name for s in config.statuses][:3] == ["Открыт", "Discovery backlog", "В работе"]


def test_example_file_gives_every_emulator_status_its_block():
    catalog = pytest.importorskip("radiator_assets.emulator.catalog")
    config = load_metrics_config(EXAMPLE)

    assert {name: config.block_of(name) for name in catalog.STATUS_BLOCKS} == catalog.STATUS_BLOCKS


def test_example_file_gives_every_emulator_status_key_its_block():
    catalog = pytest.importorskip("radiator_assets.emulator.catalog")
    config = load_metrics_config(EXAMPLE)
    statuses = catalog.ALL_STATUSES.values()

    assert {s["key"]: config.block_of(s["key"]) for s in statuses} == {
        s["key"]: catalog.STATUS_BLOCKS[s["display"]] for s in statuses
    }


def test_example_file_is_identical_to_the_bundled_default():
    assert EXAMPLE.read_text(encoding="utf-8") == DEFAULT_CONFIG_YAML, (
        "regenerate: python -m radiator_assets.metrics.default_config > radiator.example.yaml"
    )


def test_default_config_equals_the_loaded_example():
    assert MetricsConfig.default() == load_metrics_config(EXAMPLE)


def test_default_config_has_eight_quarters_of_2025_and_2026():
    assert [p.name for p in MetricsConfig.default().periods] == [
        f"Q{q} {y}" for y in (2025, 2026) for q in (1, 2, 3, 4)
    ]


def test_default_config_blocks_of_the_implementation_queue():
    config = MetricsConfig.default()

    assert [config.block_of(s) for s in ("Open", "Testing", "Regression", "Done")] == [
        "backlog",
        "delivery",
        "delivery",
        "done",
    ]


def test_a_model_built_without_values_has_the_spec_defaults():
    config = MetricsConfig()

    assert (
        config.min_stay_seconds,
        config.thresholds.ttm,
        config.roles.pause,
        config.queues.product,
    ) == (
        300,
        180,
        "Приостановлено",
        "CPO",
    )


def test_default_thresholds_are_180_60_60_60():
    t = MetricsConfig().thresholds

    assert (t.ttm, t.ttd, t.tail, t.devlt) == (180, 60, 60, 60)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="radiator config import"):
        load_metrics_config(tmp_path / "radiator.yaml")


def test_loader_tolerates_a_byte_order_mark(tmp_path):
    path = tmp_path / "radiator.yaml"
    text = example_with("min_stay_seconds: 300", "min_stay_seconds: 60")
    path.write_bytes(("\ufeff" + text).encode())

    assert load_metrics_config(path).min_stay_seconds == 60


# --------------------------------------------------------------------------- validation errors


def test_error_names_the_key_and_line_of_a_bad_block():
    err = error_of(
        "statuses:\n  - {name: Open, block: backlog}\n  - {name: Done, block: finished}\n"
    )

    assert (err.issues[0].key, err.issues[0].line) == ("statuses[1].block", 3)


def test_error_message_shows_file_line_and_key():
    err = error_of("min_stay_seconds: 300\nthresholds:\n  ttm: lots\n")

    assert "radiator.yaml, line 3: thresholds.ttm:" in str(err)


def test_error_names_an_unknown_key_and_its_line():
    err = error_of("min_stay_seconds: 300\nthreshold:\n  ttm: 10\n")

    assert (err.issues[0].key, err.issues[0].line) == ("threshold", 2)


def test_error_names_a_missing_key_at_its_parent_line():
    err = error_of("periods:\n  - name: Q1\n    start: 2025-01-01\n")

    assert (err.issues[0].key, err.issues[0].line) == ("periods[0].end", 2)


def test_error_names_a_period_ending_before_it_starts():
    err = error_of("periods:\n  - {name: Q1, start: 2025-03-01, end: 2025-01-01}\n")

    assert (err.issues[0].key, err.issues[0].line, "before start" in err.issues[0].message) == (
        "periods[0]",
        2,
        True,
    )


def test_error_names_overlapping_periods():
    err = error_of(
        "periods:\n"
        "  - {name: Q1, start: 2025-01-01, end: 2025-03-31}\n"
        "  - {name: Q2, start: 2025-03-31, end: 2025-06-30}\n"
    )

    assert (err.issues[0].key, err.issues[0].line) == ("periods[1]", 3)


def test_error_names_a_status_listed_twice():
    err = error_of("statuses:\n  - {name: Open, block: backlog}\n  - {name: open, block: done}\n")

    assert (err.issues[0].key, err.issues[0].line) == ("statuses[1].name", 3)


def test_error_names_a_key_that_matches_a_status_of_another_block():
    err = error_of(
        "statuses:\n  - {name: Open, block: backlog}\n  - {name: Закрыт, key: open, block: done}\n"
    )

    assert (err.issues[0].key, err.issues[0].line) == ("statuses[1].key", 3)


def test_error_names_a_duplicate_yaml_key():
    err = error_of("roles:\n  pause: A\n  pause: B\n")

    assert (err.issues[0].key, err.issues[0].line) == ("roles.pause", 3)


def test_error_reports_yaml_syntax_with_its_line():
    err = error_of("roles:\n  pause: [A\n")

    assert err.issues[0].line is not None


def test_error_names_an_author_mapped_to_a_list():
    err = error_of("teams:\n  authors:\n    Author 1: [Team Alpha]\n")

    assert (err.issues[0].key, err.issues[0].line) == ("teams.authors.Author 1", 3)


def test_error_rejects_a_date_as_as_of():
    err = error_of("as_of: 2025-07-01\n")

    assert (err.issues[0].key, err.issues[0].line) == ("as_of", 1)


def test_error_lists_every_problem_at_once():
    err = error_of("min_stay_seconds: -1\nthresholds:\n  ttd: x\n")

    assert [i.key for i in err.issues] == ["min_stay_seconds", "thresholds.ttd"]


# --------------------------------------------------------------------------- helpers


def test_status_matches_by_key_case_insensitively():
    config = fragment("statuses:\n  - {name: Закрыт, key: closed, block: done}\n")

    assert (config.block_of("CLOSED"), config.block_of(" закрыт ")) == ("done", "done")


def test_display_name_wins_over_another_status_key():
    config = fragment(
        "statuses:\n"
        "  - {name: Открыт, key: open, block: backlog}\n"
        "  - {name: Open, block: backlog}\n"
    )

    assert config.status("OPEN").name == "Open"


def test_unknown_status_is_discovery_and_not_known():
    config = MetricsConfig.default()

    assert (config.block_of("Something new"), config.is_known("Something new")) == (
        "discovery",
        False,
    )


def test_unknown_statuses_lists_each_unlisted_status_once():
    config = MetricsConfig.default()

    assert config.unknown_statuses(["Открыт", "Odd", "odd", "Other", "Done"]) == ["Odd", "Other"]


def test_statuses_after_external_test_exclude_cancelled():
    names = [s.name for s in MetricsConfig.default().statuses_after("МП / Внешний тест")]

    assert names[:4] == ["Готово к релизу", "Выполнено", "Выполнено с ИТ", "Приостановлено"]


def test_team_of_a_mapped_author():
    assert MetricsConfig.default().team_of("Author 3") == "Team Beta"


def test_team_of_an_unknown_or_empty_author_is_no_team():
    config = MetricsConfig.default()

    assert {config.team_of("Nobody"), config.team_of(""), config.team_of(None)} == {"Без команды"}


def test_team_of_an_author_with_an_empty_team_is_no_team():
    config = fragment('teams:\n  authors:\n    "Author 9": ""\n')

    assert config.team_of("Author 9") == "Без команды"


def test_no_team_label_is_configurable():
    config = fragment("teams:\n  no_team: No team\n")

    assert config.team_of("Nobody") == "No team"


def test_lead_of_a_team_and_of_an_unknown_team():
    config = MetricsConfig.default()

    assert (config.lead_of("Team Alpha"), config.lead_of("Team Omega")) == ("Lead A", "Без команды")


def test_period_of_includes_10_00_on_the_last_day():
    config = MetricsConfig.default()

    assert config.period_of(datetime(2025, 3, 30, 10, 0, tzinfo=UTC)) == "Q1 2025"


def test_period_of_uses_the_utc_day():
    config = MetricsConfig.default()
    moscow = timezone(timedelta(hours=3))

    assert config.period_of(datetime(2025, 3, 31, 1, 0, tzinfo=moscow)) == "Q1 2025"


def test_period_of_a_moment_outside_every_period_is_none():
    assert MetricsConfig.default().period_of(date(2030, 1, 1)) is None


def test_resolve_as_of_prefers_the_file_value():
    config = fragment("as_of: 2025-07-01T00:00:00Z\n")

    assert config.resolve_as_of(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2025, 7, 1, tzinfo=UTC
    )


def test_resolve_as_of_defaults_to_the_run_start():
    run_start = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)

    assert MetricsConfig.default().resolve_as_of(run_start) == run_start


def test_config_equality_ignores_the_status_lookup_cache():
    used, fresh = (
        parse_metrics_config(DEFAULT_CONFIG_YAML),
        parse_metrics_config(DEFAULT_CONFIG_YAML),
    )
    used.block_of("Open")

    assert used == fresh


def test_model_copy_with_new_statuses_rebuilds_the_lookup():
    config = MetricsConfig.default()
    copy = config.model_copy(update={"statuses": (StatusConfig(name="Open", block="done"),)})

    assert (copy.block_of("Open"), config.block_of("Open")) == ("done", "backlog")


def test_configured_config_is_read_from_the_settings_path(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(example_with("min_stay_seconds: 300", "min_stay_seconds: 42"), "utf-8")

    config = load_configured_metrics_config(SimpleNamespace(metrics_config_path=path))

    assert config.min_stay_seconds == 42


def test_configured_config_falls_back_to_the_default_only_when_allowed(tmp_path):
    settings = SimpleNamespace(metrics_config_path=tmp_path / "missing.yaml")

    assert load_configured_metrics_config(settings, allow_default=True) == MetricsConfig.default()
