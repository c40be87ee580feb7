"""`radiator emulator` as a process: banner, a real request, clean stop."""

import signal

import requests

from radiator_assets.tracker.emulator.cli import build_parser
from radiator_assets.tracker.emulator.process import emulator_process


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
    from radiator_assets.tracker.emulator.cli import banner

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
