"""`radiator emulator` as a process: banner, a real request, clean stop."""

import signal
from datetime import UTC, datetime

import pytest
import requests

from radiator_assets.emulator.cli import build_parser
from radiator_assets.emulator.process import emulator_process
from radiator_assets.tracker.query import parse_tracker_datetime


def test_cli_serves_the_generated_org_and_prints_how_to_use_it():
    with emulator_process(issues=30, seed=3, token="cli-token", org_id="cli-org") as emulator:
        banner = "\n".join(emulator.banner)
        assert emulator.base_url.startswith("http://127.0.0.1:")
        assert "cli-token" in banner
        assert "cli-org" in banner
        response = requests.post(
            f"{emulator.base_url}/v2/issues/_count",
            json={"query": "Queue: CPO, FULLSTACK"},
            headers={"Authorization": "OAuth cli-token", "X-Org-ID": "cli-org"},
            timeout=10,
        )
        assert response.json() == 30
        emulator.process.send_signal(signal.SIGTERM)
        assert emulator.process.wait(timeout=10) == 0


def test_cli_banner_has_a_curl_example_and_environment(tracker_emulator):
    from radiator_assets.emulator.cli import banner

    text = banner(tracker_emulator, 60, 7, 0.1)
    curl = next(line for line in text.splitlines() if "curl" in line)
    assert f"{tracker_emulator.base_url}/v2/issues/_search" in curl
    assert f"X-Org-ID: {tracker_emulator.org_id}" in curl
    assert f"TRACKER_API_URL={tracker_emulator.base_url}" in text
    assert f"TRACKER_ORG_ID={tracker_emulator.org_id}" in text


def test_cli_accepts_the_documented_options():
    args = build_parser().parse_args(
        [
            "--port",
            "8089",
            "--issues",
            "2000",
            "--seed",
            "7",
            "--latency-ms",
            "25",
            "--token",
            "T",
            "--org-id",
            "O",
        ]
    )
    assert (args.port, args.issues, args.seed, args.latency_ms, args.token, args.org_id) == (
        8089,
        2000,
        7,
        25.0,
        "T",
        "O",
    )


def test_cli_with_churn_lives_at_real_time_and_prints_each_step():
    started = datetime.now(UTC).replace(microsecond=0)
    with emulator_process(issues=30, seed=3, churn_seconds=0.2) as emulator:
        assert any(
            line.startswith("The organisation lives: every 0.2 s") for line in emulator.banner
        )
        lines = []
        while not any(" step 2: " in line for line in lines):
            line = emulator.output.get(timeout=60)
            assert line is not None, "the emulator's output ended: " + "\n".join(lines)
            lines.append(line)
        assert " step 1: " in lines[0]
        issues = requests.post(
            f"{emulator.base_url}/v2/issues/_search?perPage=100",
            json={"query": "Queue: CPO, FULLSTACK"},
            headers={"Authorization": f"OAuth {emulator.token}", "X-Org-ID": emulator.org_id},
            timeout=10,
        ).json()
        # step 2 created an issue, and a deletion (every 5th step) follows two creations
        assert len(issues) >= 31
        # the changes are stamped at real time: the clock started at it, not at a fixed day
        assert max(parse_tracker_datetime(i["updatedAt"]) for i in issues) >= started
        emulator.process.send_signal(signal.SIGTERM)
        assert emulator.process.wait(timeout=10) == 0


def test_churn_seconds_must_be_a_number_of_seconds():
    assert build_parser().parse_args(["--churn-seconds", "20"]).churn_seconds == 20.0
    assert build_parser().parse_args([]).churn_seconds == 0.0
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--churn-seconds", bad])
