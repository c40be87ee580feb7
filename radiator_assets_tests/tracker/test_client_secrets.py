"""The token never shows up in a log line, an exception text or a repr."""

import logging

import pytest

from radiator_assets.emulator import Fault
from radiator_assets.settings import Settings
from radiator_assets.tracker import (
    MalformedResponse,
    TrackerClient,
    TrackerConfigError,
    TrackerUnavailable,
)
from radiator_assets_tests.tracker_fixtures import EMULATOR_TOKEN


def _texts(error: BaseException) -> str:
    """Everything an exception can print: str, repr, args, and its chained causes."""
    parts = []
    while error is not None:
        parts += [str(error), repr(error), repr(error.args)]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_client_repr_and_str_hide_the_token(tracker_client):
    assert EMULATOR_TOKEN not in repr(tracker_client)
    assert EMULATOR_TOKEN not in str(tracker_client)
    assert "X-Org-ID" in repr(tracker_client)


def test_client_attributes_do_not_expose_the_token_in_plain_text(tracker_client):
    assert EMULATOR_TOKEN not in repr(vars(tracker_client))
    assert EMULATOR_TOKEN not in repr(vars(tracker_client._transport))


def test_settings_repr_hides_the_token(tracker_settings):
    assert EMULATOR_TOKEN not in repr(tracker_settings)
    assert EMULATOR_TOKEN not in str(tracker_settings.model_dump())


def test_401_error_and_logs_hide_the_token(tracker_emulator, tracker_client_factory, all_logs):
    wrong = "wrong-token-which-is-also-secret"
    client = tracker_client_factory(tracker_emulator, token=wrong)
    with pytest.raises(TrackerConfigError) as caught:
        client.count("Queue: CPO")
    assert wrong not in _texts(caught.value)
    assert wrong not in all_logs.text
    assert all_logs.records  # urllib3 and the client did log the exchange


def test_token_echoed_by_the_server_is_redacted_from_errors(
    tracker_emulator, tracker_client, all_logs
):
    echo = f'{{"errorMessages": ["token {EMULATOR_TOKEN} is revoked"]}}'
    tracker_emulator.add_fault(Fault.replace_body(echo, "/_count", status=401))
    with pytest.raises(TrackerConfigError) as caught:
        tracker_client.count("Queue: CPO")
    assert EMULATOR_TOKEN not in _texts(caught.value)
    assert "**********" in str(caught.value)
    assert EMULATOR_TOKEN not in all_logs.text


def test_token_in_a_malformed_body_is_redacted(tracker_emulator, tracker_client):
    tracker_emulator.add_fault(Fault.replace_body(f"<html>{EMULATOR_TOKEN}", "/_count", None))
    with pytest.raises(MalformedResponse) as caught:
        tracker_client.count("Queue: CPO")
    assert EMULATOR_TOKEN not in _texts(caught.value)


def test_retry_logs_and_unavailable_error_hide_the_token(
    tracker_emulator, tracker_client_factory, all_logs
):
    client = tracker_client_factory(tracker_emulator, max_retry_seconds=0.05)
    tracker_emulator.add_fault(Fault.http(503, "/_count", None), Fault.drop("/_search", None))
    with pytest.raises(TrackerUnavailable) as first:
        client.count("Queue: CPO")
    with pytest.raises(TrackerUnavailable) as second:
        list(client.search("Queue: CPO"))
    assert "retry" in all_logs.text
    for error in (first.value, second.value):
        assert EMULATOR_TOKEN not in _texts(error)
    assert EMULATOR_TOKEN not in all_logs.text


def test_successful_traffic_logs_hide_the_token(tracker_emulator, tracker_client, all_logs):
    issue = next(iter(tracker_client.search("Queue: CPO")))
    list(tracker_client.changelog(issue["id"]))
    assert "Tracker" in all_logs.text
    assert EMULATOR_TOKEN not in all_logs.text


def test_missing_token_is_a_config_error():
    with pytest.raises(TrackerConfigError, match="TRACKER_TOKEN"):
        TrackerClient(token="", org_id="1")


def test_from_settings_builds_a_working_client(tracker_settings, tracker_emulator):
    client = TrackerClient.from_settings(tracker_settings)
    try:
        assert client.base_url == tracker_emulator.base_url
        assert client.workers == tracker_settings.tracker_workers
        assert client.count("Queue: CPO") > 0
        assert EMULATOR_TOKEN not in repr(client)
    finally:
        client.close()


def test_from_settings_without_a_token_is_a_config_error():
    settings = Settings(_env_file=None, TRACKER_TOKEN=None, TRACKER_ORG_ID="1")
    with pytest.raises(TrackerConfigError, match="TRACKER_TOKEN"):
        TrackerClient.from_settings(settings)


def test_from_settings_uses_the_cloud_org_header(tracker_settings):
    settings = tracker_settings.model_copy(
        update={"tracker_org_id": None, "tracker_cloud_org_id": "42"}
    )
    client = TrackerClient.from_settings(settings)
    try:
        assert client.org_header == "X-Cloud-Org-ID"
    finally:
        client.close()
