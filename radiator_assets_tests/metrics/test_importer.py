"""Converting the predecessor's configuration files."""

from __future__ import annotations

import io
from datetime import date

import pytest

from radiator_assets.metrics.config import load_metrics_config, parse_metrics_config
from radiator_assets.metrics.importer import (
    PredecessorConfigError,
    config_import,
    import_predecessor_config,
)

STATUS_ORDER = """\ufeff# workflow
Открыт;backlog
Discovery backlog;discovery

  Готова к разработке ; delivery
МП / В работе;delivery
МП / Внешний тест;delivery
Готово к релизу;delivery
Выполнено с ИТ;done
Отменено;cancelled
Приостановлено;pause
"""
QUARTERS = """2025.Q1;2025-01-27;2025-04-20
2025.Q2;2025-04-21;2025-07-20
"""
AUTHORS = """Author 1;Team Alpha
Author 2; Team Beta
Author 3;
"""
LEADS = """# team;lead
Team Alpha;Lead A
Team Beta;Lead B
"""


@pytest.fixture
def predecessor_dir(tmp_path):
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "status_order.txt").write_text(STATUS_ORDER, encoding="utf-8")
    (directory / "quarters.txt").write_text(QUARTERS, encoding="utf-8")
    (directory / "cpo_authors.txt").write_text(AUTHORS, encoding="utf-8")
    (directory / "teamsleads.txt").write_text(LEADS, encoding="utf-8")
    return directory


def test_import_keeps_statuses_in_file_order_with_their_blocks(predecessor_dir):
    config = parse_metrics_config(import_predecessor_config(predecessor_dir))

    assert [(s.name, s.block) for s in config.statuses][2:4] == [
        ("Готова к разработке", "delivery"),
        ("МП / В работе", "delivery"),
    ]


def test_import_converts_quarters_to_periods(predecessor_dir):
    config = parse_metrics_config(import_predecessor_config(predecessor_dir))

    assert [(p.name, p.start, p.end) for p in config.periods] == [
        ("2025.Q1", date(2025, 1, 27), date(2025, 4, 20)),
        ("2025.Q2", date(2025, 4, 21), date(2025, 7, 20)),
    ]


def test_import_converts_authors_and_leads(predecessor_dir):
    config = parse_metrics_config(import_predecessor_config(predecessor_dir))

    assert (
        config.team_of("Author 2"),
        config.lead_of("Team Beta"),
        config.team_of("Author 3"),
    ) == (
        "Team Beta",
        "Lead B",
        "Без команды",
    )


def test_import_writes_the_spec_defaults_for_roles_and_thresholds(predecessor_dir):
    config = parse_metrics_config(import_predecessor_config(predecessor_dir))

    assert (config.roles.external_test, config.thresholds.devlt, config.min_stay_seconds) == (
        "МП / Внешний тест",
        60,
        300,
    )


def test_import_without_optional_files_gives_empty_sections(tmp_path):
    (tmp_path / "status_order.txt").write_text("Open;backlog\n", encoding="utf-8")

    config = parse_metrics_config(import_predecessor_config(tmp_path))

    assert (config.periods, config.teams.authors, config.teams.leads) == ((), {}, {})


def test_import_error_names_file_and_line_of_a_malformed_line(predecessor_dir):
    (predecessor_dir / "quarters.txt").write_text(
        "2025.Q1;2025-01-27;2025-04-20\n2025.Q2;2025-04-21\n"
    )

    with pytest.raises(
        PredecessorConfigError, match=r"quarters\.txt, line 2: expected three fields"
    ):
        import_predecessor_config(predecessor_dir)


def test_import_error_names_file_and_line_of_a_bad_date(predecessor_dir):
    (predecessor_dir / "quarters.txt").write_text("\n2025.Q1;2025-13-01;2025-04-20\n")

    with pytest.raises(
        PredecessorConfigError, match=r"quarters\.txt, line 2: dates must look like"
    ):
        import_predecessor_config(predecessor_dir)


def test_import_error_names_file_and_line_of_an_unknown_block(predecessor_dir):
    (predecessor_dir / "status_order.txt").write_text("Open;backlog\nDone;finished\n")

    with pytest.raises(PredecessorConfigError, match=r"status_order\.txt, line 2: unknown block"):
        import_predecessor_config(predecessor_dir)


def test_import_requires_the_status_file(tmp_path):
    with pytest.raises(PredecessorConfigError, match=r"status_order\.txt: not found"):
        import_predecessor_config(tmp_path)


def test_config_import_writes_a_loadable_file(predecessor_dir, tmp_path):
    output = tmp_path / "out" / "radiator.yaml"

    code = config_import(predecessor_dir, output, stdout=io.StringIO(), stderr=io.StringIO())

    # the 9 statuses of status_order.txt and the 2 testing statuses the roles name
    assert (code, len(load_metrics_config(output).statuses)) == (0, 11)


def test_import_adds_the_role_statuses_the_predecessor_files_do_not_list(predecessor_dir):
    text = import_predecessor_config(predecessor_dir)
    config = parse_metrics_config(text)

    assert [(s.name, s.block) for s in config.statuses][9:] == [
        ("Testing", "delivery"),
        ("Внешний тест", "delivery"),
    ]
    assert "(Testing, Внешний тест) are not in status_order.txt" in text


def test_config_import_says_which_statuses_it_added(predecessor_dir, tmp_path):
    out = io.StringIO()

    code = config_import(predecessor_dir, tmp_path / "radiator.yaml", stdout=out)

    assert (code, "added 2 statuses the roles name" in out.getvalue()) == (0, True)


def test_config_import_refuses_to_overwrite_without_force(predecessor_dir, tmp_path):
    output = tmp_path / "radiator.yaml"
    output.write_text("keep me\n")
    err = io.StringIO()

    code = config_import(predecessor_dir, output, stdout=io.StringIO(), stderr=err)

    assert (code, output.read_text(), "--force" in err.getvalue()) == (2, "keep me\n", True)


def test_config_import_reports_a_bad_line_and_exits_1(predecessor_dir, tmp_path):
    (predecessor_dir / "teamsleads.txt").write_text("Team Alpha\n")
    err = io.StringIO()

    code = config_import(
        predecessor_dir, tmp_path / "radiator.yaml", stdout=io.StringIO(), stderr=err
    )

    assert (code, "teamsleads.txt, line 1" in err.getvalue()) == (1, True)
