"""The Dockerfile and compose.yaml, checked without a container engine: every `metricx`
command they run parses with the real CLI, every METRICX_ variable they name is a setting,
their ports agree with one another, the healthcheck answers 200 on a running `metricx
serve`, and the Prometheus and Grafana files they mount exist and say the same."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from metricx.cli import app as cli_app
from metricx.config import Settings
from metricx.sandbox.server import free_port
from tests.packaging.serving import running

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
METRICX = Path(sys.executable).parent / "metricx"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """An instruction's exec form (a JSON array); the shell form is refused: signals (SIGTERM
    for a clean stop) reach the process only when it is PID 1, not a shell's child."""
    parsed = json.loads(args)
    assert isinstance(parsed, list), args
    return [str(a) for a in parsed]


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def metricx_commands() -> list[list[str]]:
    """Every command line of the files that runs metricx (after the word `metricx`)."""
    cmds = [exec_form(args) for word, args in runtime_stage() if word in {"CMD", "ENTRYPOINT"}]
    cmds += [list(s["command"]) for s in services().values() if "command" in s]
    return [c[1:] for c in cmds if c and c[0] == "metricx"]


def resolve(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """The subcommand path, its (click) command and the arguments left for it."""
    command: Any = typer.main.get_command(cli_app)
    path: list[str] = []
    rest = list(argv)
    while rest and rest[0] in getattr(command, "commands", {}):
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def option_value(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def healthcheck(args: str) -> list[str]:
    options, _, cmd = args.partition("CMD ")
    assert "--interval" in options and "--timeout" in options, args
    return exec_form(cmd)


def test_the_dockerfile_builds_in_stages_and_runs_as_a_user() -> None:
    instructions = dockerfile_instructions()
    stages = [args.split() for word, args in instructions if word == "FROM"]
    assert len(stages) >= 3, "assets, wheel and runtime stages"
    build_steps = " ".join(args for word, args in instructions if word == "RUN")
    assert "npm ci" in build_steps and "uv build --wheel" in build_steps
    runtime = runtime_stage()
    copies = [args for word, args in runtime if word == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "only built artefacts"
    installs = [args for word, args in runtime if word == "RUN"]
    assert any("pip install" in r and ".whl" in r for r in installs)
    assert not any(word == "COPY" and "src" in args.split()[0] for word, args in runtime)
    users = [args for word, args in runtime if word == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert [word for word, _ in runtime].index("USER") < [w for w, _ in runtime].index("CMD")


def test_every_metricx_command_exists_and_parses() -> None:
    commands = metricx_commands()
    names = {tuple(resolve(c)[0]) for c in commands}
    assert {("serve",), ("worker",), ("db", "upgrade")} <= names
    for argv in commands:
        path, command, rest = resolve(argv)
        assert path, f"metricx {shlex.join(argv)}: no such command"
        # Click parses the real options: an unknown option or a bad value raises here.
        command.make_context(" ".join(["metricx", *path]), rest)
    for path in sorted(names):
        proc = subprocess.run(
            [str(METRICX), *path, "--help"], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"metricx {' '.join(path)} --help: {proc.stderr}"


def test_every_metricx_variable_is_a_setting() -> None:
    known = {f"METRICX_{name.upper()}" for name in Settings.model_fields}
    files = [DOCKERFILE, COMPOSE, ROOT / "ops/compose/env.example"]
    named = {v for f in files for v in re.findall(r"METRICX_[A-Z0-9_]+", f.read_text())}
    assert named, "the files name no setting at all?"
    assert named <= known, f"not settings: {sorted(named - known)}"
    for name, service in services().items():
        for key in service.get("environment", {}):
            assert not key.startswith("METRICX") or key in known, (name, key)


def test_ports_agree_with_the_commands_and_the_defaults() -> None:
    (cmd,) = [exec_form(args) for word, args in runtime_stage() if word == "CMD"]
    serve = cmd[1:]
    serve_port = int(option_value(serve, "--port"))
    defaults = {p.name: p.default for p in typer.main.get_command(cli_app).commands["serve"].params}
    assert serve_port == defaults["port"] == 8000
    assert option_value(serve, "--host") == "0.0.0.0"  # reachable from outside the container
    exposed = [int(p) for word, args in runtime_stage() if word == "EXPOSE" for p in args.split()]
    assert serve_port in exposed
    (check,) = [healthcheck(args) for word, args in runtime_stage() if word == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{serve_port}/readyz" in " ".join(check)

    svc = services()
    web = svc["web"]["command"][1:]
    assert int(option_value(web, "--port")) == serve_port
    published = [str(p).rsplit(":", 1)[1] for p in svc["web"]["ports"]]
    assert str(serve_port) in published
    web_metrics = int(option_value(web, "--metrics-port"))
    worker_metrics = int(option_value(svc["worker"]["command"][1:], "--metrics-port"))
    assert f"127.0.0.1:{worker_metrics}/metrics" in " ".join(svc["worker"]["healthcheck"]["test"])

    scrape = yaml.safe_load((ROOT / "ops/compose/prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    assert targets == {f"web:{web_metrics}", f"worker:{worker_metrics}"}
    # The database URL names the compose database service, its user and database.
    url = svc["web"]["environment"]["METRICX_DATABASE_URL"]
    db_env = svc["db"]["environment"]
    assert f"@db:5432/{db_env['POSTGRES_DB']}" in url and url.startswith(
        f"postgresql://{db_env['POSTGRES_USER']}:"
    )


def test_services_start_in_order_and_monitoring_is_optional() -> None:
    svc = services()
    assert svc["migrate"]["command"] == ["metricx", "db", "upgrade"]
    assert svc["migrate"]["restart"] == "no"
    assert svc["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        assert svc[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("prometheus", "grafana"):
        assert svc[name]["profiles"] == ["monitoring"]
    for name in ("db", "migrate", "web", "worker"):
        assert "profiles" not in svc[name]


def test_mounted_monitoring_files_exist_and_load_the_shipped_dashboard() -> None:
    svc = services()
    mounts = [str(v) for name in ("prometheus", "grafana") for v in svc[name]["volumes"]]
    targets = {}
    for mount in mounts:
        source, target = mount.split(":")[:2]
        path = (ROOT / source).resolve()
        assert path.exists(), f"{source} is mounted but missing"
        targets[target] = path
    assert targets["/etc/prometheus/alerts.yml"] == ROOT / "ops/prometheus/alerts.yml"
    prometheus = yaml.safe_load(targets["/etc/prometheus/prometheus.yml"].read_text())
    assert prometheus["rule_files"] == ["alerts.yml"]
    dashboard = targets["/var/lib/grafana/dashboards/metricx.json"]
    assert dashboard == ROOT / "ops/grafana/metricx.json"
    assert json.loads(dashboard.read_text())["uid"]
    provisioning = targets["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards/metricx.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in svc


@pytest.fixture
def serve_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICX_")}
    env.update(
        METRICX_DATABASE_URL=database_url,
        METRICX_DATA_DIR=str(tmp_path / "data"),
        METRICX_LOG_LEVEL="WARNING",
    )
    return env


def test_the_healthcheck_passes_on_a_running_serve(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    """The image's CMD (on a free port) against a migrated database, then the image's
    HEALTHCHECK command itself (pointed at that port) exits 0."""
    (cmd,) = [exec_form(args) for word, args in runtime_stage() if word == "CMD"]
    (check,) = [healthcheck(args) for word, args in runtime_stage() if word == "HEALTHCHECK"]
    default_port = option_value(cmd, "--port")
    port = free_port()
    argv = [str(METRICX), *cmd[1:]]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    with running(argv, port=port, env=serve_env, cwd=tmp_path):
        probe = [sys.executable if a == "python" else a for a in check]
        probe = [a.replace(f":{default_port}/", f":{port}/") for a in probe]
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=serve_env)
        assert proc.returncode == 0, proc.stderr
