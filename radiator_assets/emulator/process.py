"""Run the emulator CLI as a child process (benchmarks, memory tests, CLI tests).

A separate process keeps the server's own allocations and CPU out of
measurements of the client, which an in-process emulator thread would mix in.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from radiator_assets.emulator.server import DEFAULT_ORG_ID, DEFAULT_TOKEN

_BASE_URL_RE = re.compile(r"base URL\s*:\s*(\S+)")


@dataclass
class EmulatorProcess:
    """A running emulator process: where it listens, the banner it printed, and the lines
    it prints after the banner (None once its output ends)."""

    base_url: str
    token: str
    org_id: str
    process: subprocess.Popen[str]
    banner: list[str] = field(default_factory=list)
    output: queue.Queue[str | None] = field(default_factory=queue.Queue)


def output_lines(process: subprocess.Popen[str], name: str) -> queue.Queue[str | None]:
    """`process`'s output, line by line as it comes, then None; a daemon thread reads it
    (so a reader can wait with a timeout instead of blocking on the pipe)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, name=name, daemon=True).start()
    return lines


@contextmanager
def emulator_process(
    *,
    issues: int = 2000,
    seed: int = 7,
    profile: str = "full",
    latency_ms: float = 0.0,
    token: str = DEFAULT_TOKEN,
    org_id: str = DEFAULT_ORG_ID,
    churn_seconds: float = 0.0,
    startup_timeout: float = 120.0,
) -> Iterator[EmulatorProcess]:
    """Start `python -m radiator_assets.emulator` on a free loopback port; stop it after."""
    command = [
        sys.executable, "-m", "radiator_assets.emulator",
        "--host", "127.0.0.1", "--port", "0",
        "--issues", str(issues), "--seed", str(seed), "--profile", profile,
        "--latency-ms", str(latency_ms), "--token", token, "--org-id", org_id,
        "--churn-seconds", str(churn_seconds),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines = output_lines(process, "emulator-stdout")
    banner: list[str] = []
    try:
        base_url = None
        while not (banner and banner[-1].startswith("Ctrl+C")):
            try:
                line = lines.get(timeout=startup_timeout)
            except queue.Empty:
                raise TimeoutError("the emulator process printed no base URL in time") from None
            if line is None:
                raise RuntimeError("the emulator process exited:\n" + "\n".join(banner))
            banner.append(line)
            match = _BASE_URL_RE.search(line)
            if match:
                base_url = match.group(1)
        if base_url is None:
            raise RuntimeError("the emulator banner has no base URL:\n" + "\n".join(banner))
        yield EmulatorProcess(base_url, token, org_id, process, banner, lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
