"""Configuration is read from the environment and keeps the token secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from radiator_assets.settings import Settings

TOKEN = "y0_AgAAAAsecret-token-value"


def test_the_token_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    settings = Settings()
    assert settings.tracker_token is not None
    assert settings.tracker_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


def test_home_defaults_to_dot_radiator_even_though_HOME_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RADIATOR_HOME", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/else")
    assert Settings(_env_file=None).home == Path(".radiator")


def test_both_organisation_headers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_ORG_ID", "1")
    monkeypatch.setenv("TRACKER_CLOUD_ORG_ID", "2")
    with pytest.raises(ValidationError, match="not both"):
        Settings()


def test_a_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_QUERY", raising=False)
    env = tmp_path / ".env"
    env.write_text('TRACKER_QUERY="Queue: ABC"\n', encoding="utf-8")
    assert Settings(_env_file=env).tracker_query == "Queue: ABC"
