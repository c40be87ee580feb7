"""The production deployment under deploy/ (deploy/README.md) holds together.

Every YAML file parses; the environment example names exactly the variables the
processes read (the `Settings` aliases and Dagster's own), secrets marked; the
systemd units and the compose services run executables this virtualenv has, with
arguments those executables accept, against workspace files that point at the code
server's port under the code location's name; the Helm values carry the instance
blocks of deploy/dagster.yaml unchanged; and deploy/dagster.yaml loads as a
Dagster instance on a real PostgreSQL database, with run monitoring, run retries
and the `tracker_sync` pool limited to one step.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy.engine import URL

from radiator_assets.assets.tracker import SYNC_POOL
from radiator_assets.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
DEPLOY = PROJECT / "deploy"
VENV_BIN = Path(sys.executable).parent
#: where deploy/README.md installs the checkout and its virtualenv; the units name it
INSTALLED = Path("/opt/radiator")
INSTALLED_BIN = INSTALLED / ".venv" / "bin"
ENTRY_POINTS = {"dagster", "dagster-daemon", "dagster-webserver", "radiator"}

#: variables Dagster reads itself (the instance), not `Settings`
DAGSTER_VARIABLES = {"DAGSTER_HOME", "DAGSTER_PG_URL"}
DAGSTER_SECRETS = {"DAGSTER_PG_URL"}
UNITS = {
    "radiator-migrate.service",
    "radiator-code-server.service",
    "radiator-daemon.service",
    "radiator-webserver.service",
}
LONG_RUNNING = UNITS - {"radiator-migrate.service"}
INSTANCE_BLOCKS = ("concurrency", "run_monitoring", "run_retries")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def settings_aliases() -> set[str]:
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert None not in aliases, "every Settings field reads a variable through its alias"
    return {alias for alias in aliases if alias}


def secret_settings_aliases() -> set[str]:
    return {
        field.alias
        for field in Settings.model_fields.values()
        if field.alias and SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }


# --- deploy/radiator.env.example ---------------------------------------------------


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    active: bool  # False: a commented `# NAME=value` that shows the default
    secret: bool  # its comment block says SECRET


_VARIABLE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> list[EnvEntry]:
    entries: list[EnvEntry] = []
    comments: list[str] = []
    for raw in (DEPLOY / "radiator.env.example").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        match = _VARIABLE.match(line)
        if match:
            commented, name, value = match.groups()
            secret = any("SECRET" in comment for comment in comments)
            entries.append(EnvEntry(name, value, commented is None, secret))
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        else:
            comments = []
    return entries


def test_every_yaml_file_under_deploy_parses() -> None:
    found = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    expected = {
        "dagster.yaml",
        "workspace.yaml",
        "workspace.compose.yaml",
        "compose.yaml",
        "helm/values.yaml",
    }
    assert {p.relative_to(DEPLOY).as_posix() for p in found} >= expected
    for path in found:
        assert isinstance(load_yaml(path), dict), path


def test_the_env_example_names_only_variables_something_reads() -> None:
    names = [entry.name for entry in env_example()]
    assert len(names) == len(set(names)), "a variable listed twice"
    unknown = set(names) - settings_aliases() - DAGSTER_VARIABLES
    assert not unknown, f"neither a Settings alias nor Dagster's: {sorted(unknown)}"


def test_the_env_example_documents_every_variable() -> None:
    names = {entry.name for entry in env_example()}
    assert settings_aliases() - names == set()
    assert DAGSTER_VARIABLES - names == set()
    # what the processes cannot do without is set, not left to a commented default
    active = {entry.name for entry in env_example() if entry.active}
    required = {"DAGSTER_HOME", "DAGSTER_PG_URL", "RADIATOR_DATABASE_URL", "TRACKER_TOKEN"}
    assert required <= active


def test_the_env_example_marks_exactly_the_secrets() -> None:
    secrets = {entry.name for entry in env_example() if entry.secret}
    assert secrets == secret_settings_aliases() | DAGSTER_SECRETS
    assert secret_settings_aliases() == {"RADIATOR_DATABASE_URL", "TRACKER_TOKEN"}


def test_the_env_example_urls_name_the_psycopg2_driver() -> None:
    for entry in env_example():
        if entry.name in ("DAGSTER_PG_URL", "RADIATOR_DATABASE_URL"):
            assert entry.value.startswith("postgresql+psycopg2://"), entry


# --- deploy/systemd ----------------------------------------------------------------


def unit_entries(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order: keys such as ExecStart repeat."""
    entries = []
    section = ""
    for raw in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not KEY=value: {line}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(name: str, key: str) -> list[str]:
    return [value for _, k, value in unit_entries(name) if k == key]


def _until_command(script: str) -> list[str]:
    """The command of `until CMD >/dev/null 2>&1; do sleep 1; done`."""
    tokens = shlex.split(script)
    assert tokens[0] == "until", script
    command = []
    for token in tokens[1:]:
        if token.startswith((">", "2>")) or token.endswith(";"):
            break
        command.append(token)
    return command


def unit_commands() -> Iterator[tuple[str, list[str]]]:
    """Every command line the units run, with the installed venv path as written."""
    for name in sorted(UNITS):
        for key in ("ExecStart", "ExecStartPre", "ExecStartPost"):
            for value in unit_values(name, key):
                argv = shlex.split(value)
                if argv[:2] == ["/bin/sh", "-c"]:
                    argv = _until_command(argv[2])
                yield f"{name} {key}", argv


def test_the_units_are_the_four_of_the_topology() -> None:
    assert {p.name for p in (DEPLOY / "systemd").iterdir()} == UNITS


def test_every_unit_command_is_an_entry_point_of_this_venv() -> None:
    commands = list(unit_commands())
    assert len(commands) >= 6
    for where, argv in commands:
        executable = Path(argv[0])
        assert executable.parent == INSTALLED_BIN, f"{where}: {argv[0]} is not in the venv"
        assert executable.name in ENTRY_POINTS, where
        assert (VENV_BIN / executable.name).is_file(), f"{where}: no {executable.name} here"


def _local(arg: str) -> str:
    """An argument as this checkout has it: an installed path made this checkout's."""
    if arg.startswith(f"{INSTALLED}/"):
        return str(PROJECT / Path(arg).relative_to(INSTALLED))
    return arg


def _help(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """The command with --help appended: click and argparse refuse an unknown
    subcommand or option before they print the help."""
    local = [str(VENV_BIN / Path(argv[0]).name), *map(_local, argv[1:]), "--help"]
    env = {**os.environ, "RADIATOR_HOME": str(home), "DAGSTER_HOME": str(home)}
    return subprocess.run(
        local, cwd=home, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def assert_accepted(commands: list[tuple[str, list[str]]], home: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: _help(c[1], home), commands))
    for (where, argv), done in zip(commands, results, strict=True):
        assert done.returncode == 0, f"{where}: {argv}\n{done.stderr[-2000:]}"


def test_the_executables_accept_the_units_arguments(tmp_path: Path) -> None:
    assert_accepted(list(unit_commands()), tmp_path)
    # what a typo would look like is refused, so the check above means something
    wrong = [str(INSTALLED_BIN / "dagster"), "code-server", "start", "--no-such"]
    assert _help(wrong, tmp_path).returncode != 0


def test_the_units_order_migrations_code_server_daemon_webserver() -> None:
    migrate = "radiator-migrate.service"
    assert unit_values(migrate, "Type") == ["oneshot"]
    assert unit_values(migrate, "RemainAfterExit") == ["yes"]
    steps = [shlex.split(v)[1:] for v in unit_values(migrate, "ExecStart")]
    assert steps == [["db", "upgrade"], ["instance", "migrate"]]
    for name in LONG_RUNNING:
        assert migrate in unit_values(name, "Requires"), name
        assert migrate in " ".join(unit_values(name, "After")).split(), name
        assert unit_values(name, "Restart") == ["on-failure"], name
    for name in ("radiator-daemon.service", "radiator-webserver.service"):
        assert "radiator-code-server.service" in " ".join(unit_values(name, "After")).split()
        assert "radiator-code-server.service" in " ".join(unit_values(name, "Wants")).split()
    for name in UNITS:
        assert unit_values(name, "EnvironmentFile") == ["/etc/radiator/radiator.env"], name
        assert unit_values(name, "User") == ["radiator"], name
        assert unit_values(name, "WantedBy") == ["multi-user.target"], name


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"none of {names} in {argv}")


def test_the_units_point_at_the_workspace_of_the_code_server() -> None:
    (code_server,) = [
        shlex.split(v) for v in unit_values("radiator-code-server.service", "ExecStart")
    ]
    (grpc,) = [e["grpc_server"] for e in load_yaml(DEPLOY / "workspace.yaml")["load_from"]]
    assert code_server[1:3] == ["code-server", "start"]
    assert _option(code_server, "-m", "--module-name") == "radiator_assets.definitions"
    assert int(_option(code_server, "-p", "--port")) == grpc["port"]
    assert _option(code_server, "-h", "--host") == grpc["host"]
    assert _option(code_server, "--location-name") == grpc["location_name"]
    health = [argv for where, argv in unit_commands() if "ExecStartPost" in where]
    assert health and int(_option(health[0], "-p")) == grpc["port"]
    for name in ("radiator-daemon.service", "radiator-webserver.service"):
        (argv,) = [shlex.split(v) for v in unit_values(name, "ExecStart")]
        workspace = Path(_option(argv, "-w", "--workspace"))
        assert workspace == INSTALLED / "deploy" / "workspace.yaml", name
        assert (PROJECT / workspace.relative_to(INSTALLED)).is_file()


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` on copies whose paths point at this checkout: it fails on
    a command that is not executable and warns (exit code 0) about an unknown key or a
    value it cannot parse, so a warning about the units fails too. Where systemd's
    tools are missing, the structural checks above stand alone."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        text = text.replace(str(INSTALLED_BIN), str(VENV_BIN))
        text = text.replace(str(INSTALLED / "deploy"), str(DEPLOY))
        text = re.sub(r"^(User|Group)=radiator$", r"\1=root", text, flags=re.M)
        text = text.replace("/var/lib/radiator", str(tmp_path))
        (tmp_path / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    about_the_units = [line for line in output.splitlines() if any(u in line for u in UNITS)]
    assert about_the_units == [], output


# --- workspaces ---------------------------------------------------------------------


def test_the_workspaces_name_the_code_location_as_the_repository_does() -> None:
    from dagster._core.workspace.config_schema import ensure_workspace_config

    (local,) = load_yaml(PROJECT / "workspace.yaml")["load_from"]
    name = local["python_module"]["location_name"]
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["dagster"]["code_location_name"] == name
    for path in sorted(DEPLOY.glob("workspace*.yaml")):
        config = load_yaml(path)
        ensure_workspace_config(config, str(path))  # Dagster's own schema
        (entry,) = config["load_from"]
        assert entry["grpc_server"]["location_name"] == name, path


# --- deploy/compose.yaml and the image ------------------------------------------------


def compose() -> dict[str, Any]:
    return load_yaml(DEPLOY / "compose.yaml")


def test_compose_runs_the_topology_in_order() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "code-server", "daemon", "webserver"}
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("code-server", "daemon", "webserver"):
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["restart"] == "unless-stopped"
        assert service["env_file"] == "radiator.env"
        assert (DEPLOY / service["build"]["dockerfile"].removeprefix("deploy/")).is_file()
        environment = service["environment"]
        for url in ("DAGSTER_PG_URL", "RADIATOR_DATABASE_URL"):
            assert environment[url].startswith("postgresql+psycopg2://"), (name, url)
        assert set(environment) <= settings_aliases() | DAGSTER_VARIABLES
    assert (DEPLOY / "compose-initdb.sql").is_file()


def _unit_exec_start(name: str) -> list[list[str]]:
    return [shlex.split(value) for value in unit_values(name, "ExecStart")]


def test_compose_runs_the_commands_of_the_units() -> None:
    """The systemd units' commands (checked against the executables above), with the
    entry point by name, the code server and the webserver listening on every interface
    of their container, and the workspace file of the compose network."""

    def as_in_compose(argv: list[str]) -> list[str]:
        swapped = {
            "127.0.0.1": "0.0.0.0",
            f"{INSTALLED}/deploy/workspace.yaml": "deploy/workspace.compose.yaml",
        }
        return [Path(argv[0]).name, *(swapped.get(arg, arg) for arg in argv[1:])]

    services = compose()["services"]
    for service, unit in (
        ("code-server", "radiator-code-server.service"),
        ("daemon", "radiator-daemon.service"),
        ("webserver", "radiator-webserver.service"),
    ):
        (argv,) = _unit_exec_start(unit)
        assert services[service]["command"] == as_in_compose(argv), service
    script = services["migrate"]["command"]
    assert script[:2] == ["sh", "-c"]
    steps = [shlex.split(step) for step in script[2].split("&&")]
    assert steps == [as_in_compose(argv) for argv in _unit_exec_start("radiator-migrate.service")]


def test_compose_workspace_points_at_the_code_server_service() -> None:
    services = compose()["services"]
    code_server = services["code-server"]["command"]
    for name in ("daemon", "webserver"):
        workspace = _option(services[name]["command"], "-w", "--workspace")
        assert workspace == "deploy/workspace.compose.yaml"  # relative to the image's WORKDIR
        (entry,) = load_yaml(PROJECT / workspace)["load_from"]
        assert entry["grpc_server"]["host"] == "code-server"
        assert entry["grpc_server"]["port"] == int(_option(code_server, "-p"))
        assert entry["grpc_server"]["location_name"] == _option(code_server, "--location-name")


def test_the_image_installs_the_project_editable_with_its_migrations() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "WORKDIR /opt/radiator" in dockerfile
    assert re.search(r"^RUN pip install -e \.$", dockerfile, re.M)
    copied = " ".join(re.findall(r"^COPY (.+)$", dockerfile, re.M)).split()
    for needed in ("pyproject.toml", "README.md", "alembic.ini", "alembic", "radiator_assets"):
        assert needed in copied, needed
    assert 'cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile
    # SIGTERM to the code server's whole process group, its runs included
    assert 'ENTRYPOINT ["/usr/bin/tini", "-g", "--"]' in dockerfile


# --- deploy/helm/values.yaml ---------------------------------------------------------


def test_the_helm_values_carry_the_instance_blocks_unchanged() -> None:
    values = load_yaml(DEPLOY / "helm" / "values.yaml")
    instance = load_yaml(DEPLOY / "dagster.yaml")
    extra = values["additionalInstanceConfig"]
    assert set(extra) == set(INSTANCE_BLOCKS)
    for block in INSTANCE_BLOCKS:
        assert extra[block] == instance[block], block
    # the chart's own renderings of the two blocks stay off: the keys would be written twice
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is False
    assert values["dagsterDaemon"]["runRetries"]["enabled"] is False


def test_the_helm_values_describe_the_code_location_and_its_runs() -> None:
    values = load_yaml(DEPLOY / "helm" / "values.yaml")
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True and user["enableSubchart"] is True
    (deployment,) = user["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "radiator_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    names = {env["name"] for env in deployment["env"]}
    assert names <= settings_aliases()
    assert deployment["envSecrets"] == [{"name": "radiator-secrets"}]
    (init,) = deployment["initContainers"]
    assert init["args"] == ["radiator", "db", "upgrade"]
    assert init["envFrom"] == [{"secretRef": {"name": "radiator-secrets"}}]
    image = deployment["image"]
    assert init["image"] == f"{image['repository']}:{image['tag']}"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


# --- deploy/dagster.yaml on PostgreSQL ------------------------------------------------


@pytest.fixture
def deploy_dagster_home(
    tmp_path: Path, empty_database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """$DAGSTER_HOME holding deploy/dagster.yaml, on a database of its own (not a
    warehouse: Dagster's storage and the warehouse must not share one)."""
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_PG_URL", empty_database_url.render_as_string(hide_password=False))
    return tmp_path


def test_the_deploy_instance_loads_with_monitoring_retries_and_the_sync_pool(
    deploy_dagster_home: Path,
) -> None:
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

        assert instance.run_monitoring_enabled is True
        assert instance.run_monitoring_start_timeout_seconds == 180
        # the one thing that fails a run whose worker died unseen with the DefaultRunLauncher
        assert not instance.run_launcher.supports_check_run_worker_health
        assert 3600 <= instance.run_monitoring_max_runtime_seconds <= 24 * 3600
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0

        assert instance.run_retries_enabled is True
        assert instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False

        daemons = instance.get_required_daemon_types()
        assert {"MONITORING", "EVENT_LOG_CONSUMER", "QUEUED_RUN_COORDINATOR"} <= set(daemons)

        config = instance.get_concurrency_config()
        assert config.pool_config.pool_granularity is not None
        assert config.pool_config.pool_granularity.value == "op"
        assert config.run_queue_config is not None
        assert config.run_queue_config.max_concurrent_runs == 4
        pool = instance.event_log_storage.get_concurrency_info(SYNC_POOL)
        assert pool.limit == 1
        assert pool.using_default_limit is True
