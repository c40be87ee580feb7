"""Settings refuse what cannot work, and their errors never show a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from radiator_assets.settings import Settings
from radiator_assets.storage.engine import DatabaseURLError, normalise_url

TOKEN = "y0_SECRETtokenVALUE-9f3e1a"
PASSWORD = "Pa55-hunter2-word"


def secret_parts(secret: str) -> list[str]:
    """The secret and a few of its prefixes: a truncated echo leaks too."""
    return [secret[:n] for n in (4, 6, 8, 12)] + [secret]


def validation_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> ValidationError:
    for name in ("TRACKER_ORG_ID", "TRACKER_CLOUD_ORG_ID", "RADIATOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    return info.value


def test_both_org_ids_set_error_shows_no_part_of_the_token(monkeypatch: pytest.MonkeyPatch):
    error = validation_error(
        monkeypatch, TRACKER_TOKEN=TOKEN, TRACKER_ORG_ID="1", TRACKER_CLOUD_ORG_ID="2"
    )
    text = f"{error}\n{error!r}"

    assert "not both" in text
    assert [part for part in secret_parts(TOKEN) if part in text] == []


def test_both_org_ids_set_error_shows_no_part_of_the_database_password(
    monkeypatch: pytest.MonkeyPatch,
):
    error = validation_error(
        monkeypatch,
        RADIATOR_DATABASE_URL=f"postgresql://radiator:{PASSWORD}@db.example:5432/radiator",
        TRACKER_ORG_ID="1",
        TRACKER_CLOUD_ORG_ID="2",
    )
    text = f"{error}\n{error!r}"

    assert [part for part in secret_parts(PASSWORD) if part in text] == []


@pytest.mark.parametrize(
    "url", ["notaurl", "api.tracker.yandex.net", "ftp://api.tracker.yandex.net", "https://"]
)
def test_tracker_api_url_must_be_http_url(monkeypatch: pytest.MonkeyPatch, url: str):
    error = validation_error(monkeypatch, TRACKER_API_URL=url)

    assert [(e["loc"], "http" in e["msg"]) for e in error.errors()] == [
        (("TRACKER_API_URL",), True)
    ]


def test_tracker_api_url_accepts_http_and_https_with_a_host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRACKER_API_URL", "http://127.0.0.1:8089/")
    local = Settings(_env_file=None).tracker_api_url
    monkeypatch.setenv("TRACKER_API_URL", "https://api.tracker.yandex.net")

    assert (local, Settings(_env_file=None).tracker_api_url) == (
        "http://127.0.0.1:8089",
        "https://api.tracker.yandex.net",
    )


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_postgres_scheme_url_is_accepted(scheme: str):
    url = normalise_url(f"{scheme}://radiator:{PASSWORD}@db.example:5432/radiator")

    assert (url.drivername, url.host, url.port, url.database, url.password) == (
        "postgresql+psycopg2",
        "db.example",
        5432,
        "radiator",
        PASSWORD,
    )


@pytest.mark.parametrize(
    "raw",
    [
        f"mysql://radiator:{PASSWORD}@db.example/radiator",
        f"postgresql//radiator:{PASSWORD}@db.example/radiator",
        f"radiator:{PASSWORD}@db.example",
    ],
)
def test_a_url_that_is_not_postgresql_is_refused_without_its_password(raw: str):
    with pytest.raises(ValueError) as info:
        normalise_url(raw)
    text = f"{info.value}\n{info.value!r}"

    assert "RADIATOR_DATABASE_URL" in text
    assert [part for part in secret_parts(PASSWORD) if part in text] == []


def test_a_password_with_a_bare_at_sign_is_refused_without_showing_any_of_it() -> None:
    with pytest.raises(DatabaseURLError) as refused:
        normalise_url("postgresql://sekrit:Pa55@w0rdXYZ@127.0.0.1:5432/db")
    assert "%40" in str(refused.value)
    assert not any(part in str(refused.value) for part in ("Pa55", "w0rdXYZ", "sekrit"))


def test_a_database_url_with_a_port_that_is_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(DatabaseURLError, match="not a database URL"):
        normalise_url("postgresql://u:p@host:notaport/db")


def test_tracker_api_url_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_API_URL", "http://user:secret@tracker.example")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert "the token goes in TRACKER_TOKEN" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_token_too_short_to_be_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", "x")
    with pytest.raises(ValidationError, match="shorter than 8 characters"):
        Settings(_env_file=None)


def test_a_token_read_with_its_line_end_is_trimmed_and_one_with_inner_controls_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", f" {TOKEN}\r\n")
    token = Settings().tracker_token
    assert token is not None and token.get_secret_value() == TOKEN
    monkeypatch.setenv("TRACKER_TOKEN", f"{TOKEN}\nX-Injected: 1")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "control character" in str(refused.value)
    assert TOKEN not in str(refused.value)
