"""The production topology as separate processes, for end-to-end tests.

A gRPC code server, the Dagster daemon and the webserver, each its own
process group started from the venv's own executables, on one `DAGSTER_HOME`
whose `dagster.yaml` is `deploy/dagster.yaml` verbatim (dagster-postgres).
Each process writes to a log file whose tail goes into every failure
message; `stop()` ends every process group it started by pid and returns the
pids, so a test can check that none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import psutil
import yaml

from radiator_assets.live_demo import stop_process_group

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "radiator_assets"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but its exit status.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    return False


def run_key(run: dg.DagsterRun) -> str:
    """The run key a sensor or schedule requested the run under ("" for others)."""
    return run.tags.get("dagster/run_key", "")


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Topology:
    """Code server, daemon and webserver on one instance; `env` is what all three read."""

    root: Path
    env: dict[str, str]
    code_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)
    started_pids: list[int] = field(default_factory=list)

    @classmethod
    def prepare(
        cls, root: Path, env: dict[str, str], instance_overrides: dict[str, Any] | None = None
    ) -> Topology:
        """`$DAGSTER_HOME/dagster.yaml` = deploy/dagster.yaml (with `instance_overrides`
        merged into its sections, if any); a workspace naming the code server by host and
        port, as deploy/workspace.yaml does."""
        home = root / "dagster_home"
        home.mkdir(parents=True)
        instance = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
        for section, values in (instance_overrides or {}).items():
            instance[section] = {**instance.get(section, {}), **values}
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
        topology = cls(root, {**env, "DAGSTER_HOME": str(home)})
        (root / "workspace.yaml").write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {topology.code_port}\n      location_name: {LOCATION}\n"
        )
        return topology

    @property
    def workspace(self) -> str:
        return str(self.root / "workspace.yaml")

    def _start(self, name: str, *command: str) -> Service:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(command),
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopping it stops its children
            )
        self.started_pids.append(process.pid)
        service = Service(name, process, log)
        self.services[name] = service
        return service

    def start_code_server(self) -> Service:
        service = self._start(
            "code-server",
            str(BIN / "dagster"), "code-server", "start",
            "-m", "radiator_assets.definitions",
            "-h", "127.0.0.1", "-p", str(self.code_port), "--location-name", LOCATION,
        )  # fmt: skip
        self.wait(self._code_server_answers, 180, "the code server to answer")
        return service

    def start_daemon(self) -> Service:
        return self._start("daemon", str(BIN / "dagster-daemon"), "run", "-w", self.workspace)

    def start_webserver(self) -> Service:
        service = self._start(
            "webserver",
            str(BIN / "dagster-webserver"),
            "-w", self.workspace, "-h", "127.0.0.1", "-p", str(self.ui_port),
        )  # fmt: skip
        self.wait(self._webserver_answers, 180, "the webserver to answer")
        return service

    def _code_server_answers(self) -> bool:
        check = subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(self.code_port)],
            env=self.env,
            capture_output=True,
            timeout=60,
        )
        return check.returncode == 0

    def _webserver_answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(self.url("server_info"), timeout=5) as reply,
        ):
            return reply.status == 200
        return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ui_port}/{path}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the UI asks the webserver, asked the same way (HTTP POST /graphql)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url("graphql"), data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            answer = json.loads(reply.read())
        assert "errors" not in answer, answer
        return answer["data"]

    def kill(self, name: str) -> int:
        """SIGKILL a service's whole group, as a crash or an OOM kill would; returns its pid."""
        service = self.services.pop(name)
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=30)
        return service.process.pid

    def kill_run_workers(self) -> list[int]:
        """SIGKILL the code server's run workers (the processes Dagster's code server starts
        a run in: multiprocessing children of its gRPC server), as an OOM kill would."""
        server = psutil.Process(self.services["code-server"].process.pid)
        workers = [
            child
            for child in server.children(recursive=True)
            if "multiprocessing.spawn" in " ".join(child.cmdline())
        ]
        for worker in workers:
            worker.kill()
        return [worker.pid for worker in workers]

    def stop(self) -> list[int]:
        """Stop every group started here (SIGTERM, then SIGKILL for what lingers, as the
        live demo stops dagster dev); the pids started."""
        for service in self.services.values():
            stop_process_group(service.process)
        return list(self.started_pids)

    def logs(self) -> str:
        return "\n".join(
            f"--- {s.name} (pid {s.process.pid}, exit {s.process.poll()}) ---\n{s.tail()}"
            for s in self.services.values()
        )

    def wait(self, condition: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll `condition` until it returns something truthy; fail with every log's tail."""
        deadline = time.monotonic() + timeout
        while True:
            for service in self.services.values():
                if service.process.poll() is not None:
                    raise AssertionError(
                        f"{service.name} exited while waiting for {what}:\n" + self.logs()
                    )
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"gave up after {timeout:.0f} s waiting for {what}:\n" + self.logs()
                )
            time.sleep(0.5)
