"""The Dagster UI's server on the real workspace: what data engineers see in the browser.

Starts `dagster-webserver -w workspace.yaml` bound to 127.0.0.1 and asks its GraphQL API for
the asset graph, the dbt tests as asset checks, the schedules and the landing sensor.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from soe_pipeline.automation_settings import load_automation_settings

REPO = Path(__file__).resolve().parents[1]
LOCATION = "soe_pipeline"
REPOSITORY = "__repository__"
START_TIMEOUT_SECONDS = 120
SETTINGS = load_automation_settings()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert not body.get("errors"), body["errors"]
    return body["data"]


LOCATION_STATUS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def wait_until_loaded(url: str, server: subprocess.Popen, log: Path) -> None:
    """Poll until the server answers and the code location has loaded (or failed to)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"dagster-webserver exited with {server.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            data = graphql(url, LOCATION_STATUS)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
            continue
        entries = data["workspaceOrError"].get("locationEntries") or []
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            assert loaded and loaded["__typename"] == "RepositoryLocation", loaded
            return
        time.sleep(0.5)
    pytest.fail(
        f"dagster-webserver not ready after {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> str:
    """URL of a dagster-webserver on the repo's workspace; stopped after the module's tests."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = home / "webserver.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    executable = Path(sys.executable).parent / "dagster-webserver"
    env = {**os.environ, "DAGSTER_HOME": str(home), "GX_ANALYTICS_ENABLED": "false"}
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(executable), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Own process group: the code server it spawns is stopped with it.
            start_new_session=True,
        )
    try:
        wait_until_loaded(url, server, log)
        yield url
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


ASSET_NODES = """
{ assetNodes {
    assetKey { path }
    groupName
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
} }
"""

INSTIGATORS = """
query ($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules { results { name cronSchedule executionTimezone pipelineName } }
  }
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors { results { name targets { pipelineName } } }
  }
}
"""


def test_asset_graph_runs_from_landing_extracts_to_bi_exports(webserver):
    nodes = {
        "/".join(n["assetKey"]["path"]): n for n in graphql(webserver, ASSET_NODES)["assetNodes"]
    }
    for key in (
        "erp/items",
        "pos/daily_sales",
        "wms/inventory_snapshot",
        "pipeline/run_context",
        "marts/exceptions",
        "publish/bi_exports",
    ):
        assert key in nodes, sorted(nodes)
    assert nodes["erp/items"]["groupName"] == "erp"
    assert nodes["marts/exceptions"]["groupName"] == "marts"


def test_dbt_tests_on_marts_show_as_asset_checks(webserver):
    nodes = {
        "/".join(n["assetKey"]["path"]): n for n in graphql(webserver, ASSET_NODES)["assetNodes"]
    }
    checks = nodes["marts/exceptions"]["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    names = {c["name"] for c in checks["checks"]}
    assert "unique_exceptions_exception_id" in names, names
    assert "not_null_exceptions_exception_id" in names, names


def test_schedules_and_landing_sensor_are_listed(webserver):
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    data = graphql(webserver, INSTIGATORS, {"selector": selector})
    assert data["schedulesOrError"]["__typename"] == "Schedules", data
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    assert schedules["weekly_soe_cycle_schedule"]["pipelineName"] == "weekly_soe_cycle"
    assert schedules["weekly_soe_cycle_schedule"]["cronSchedule"] == SETTINGS.weekly_cron
    assert schedules["daily_sensing_refresh_schedule"]["pipelineName"] == "daily_sensing_refresh"
    assert schedules["daily_sensing_refresh_schedule"]["executionTimezone"] == SETTINGS.timezone
    assert data["sensorsOrError"]["__typename"] == "Sensors", data
    sensors = {s["name"]: s for s in data["sensorsOrError"]["results"]}
    assert "landing_files_sensor" in sensors, sensors
    assert {t["pipelineName"] for t in sensors["landing_files_sensor"]["targets"]} == {
        "daily_sensing_refresh",
        "weekly_soe_cycle",
    }
