"""The chart's monitoring: alert rules (promtool), PodMonitors, the Grafana dashboard.

The rules live once, in helm/esteira/files/alerts.yaml (a Helm template for the thresholds): the
PrometheusRule renders them, and these tests take the rules from that rendered object, so what
promtool checks is what a cluster gets. Every object is validated against the Prometheus
Operator's CRDs (conftest.validate). That every metric the rules and the dashboard name is one a
running worker or gateway exports is checked by the Swift suites "Monitoring: the chart's metric
names exist" (Tests/IntegrationTests, Tests/EsteiraSFTPTests), which scrape the real processes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from conftest import CHART, ROOT, only, render, validate

UNIT_TESTS = Path(__file__).parent / "monitoring" / "alerts_test.yaml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
EVERYTHING = {"monitoring": {"enabled": True, "labels": {"release": "prometheus"},
                             "podMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                             "dashboard": {"enabled": True}},
              "sftp": {"enabled": True, "users": {"existingSecret": "sftp-users"}}}


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is not installed: run `make setup` (Debian package `prometheus`)")
    return path


def rules(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rule = only(render(values or {"monitoring": {"enabled": True}}), "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def alert_names() -> list[str]:
    return [r["alert"] for r in rules()]


def write_rules(directory: Path, values: dict[str, Any] | None = None) -> Path:
    rule = only(render(values or {"monitoring": {"enabled": True}}), "PrometheusRule")
    path = directory / "alerts.rendered.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_rules_pass_promtool_check(tmp_path):
    path = write_rules(tmp_path)
    r = run(promtool(), "check", "rules", path.name, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in r.stdout


def test_the_rules_pass_their_promtool_unit_tests(tmp_path):
    write_rules(tmp_path)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    r = run(promtool(), "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_unit_tests_can_fail(tmp_path):
    """A threshold other than the one the unit tests expect makes them fail: they test the rules."""
    write_rules(tmp_path, {"monitoring": {"enabled": True, "rules": {"oldestMessageMinutes": 60}}})
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    r = run(promtool(), "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert r.returncode != 0
    assert "EsteiraOldestMessageTooOld" in r.stdout + r.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing, quiet = set(), set()
    for t in tests:
        for case in t["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert set(alert_names()) == firing, "each alert needs a unit test where it fires"
    assert set(alert_names()) == quiet, "each alert needs a unit test where it stays quiet"


def test_the_alerts_issue_17_asks_for_and_the_dlq_blind_spot():
    assert alert_names() == [
        "EsteiraDeadLetterQueueNotEmpty", "EsteiraDeadLetterQueueUnreadable", "EsteiraOldestMessageTooOld", "EsteiraFilesFailing",
        "EsteiraRejectRatioHigh", "EsteiraQueueStalled", "EsteiraHeartbeatFailures", "EsteiraSFTPFailedLoginBurst"]


def test_every_alert_has_a_runbook_line():
    text = OPERATIONS.read_text()
    section = text[text.index("## Alerts and dashboard"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    for name in alert_names():
        assert re.search(rf"^\| `{name}` \|.+\|.+\|$", section, re.M), f"no runbook row for {name} in docs/OPERATIONS.md"


def test_thresholds_and_namespace_come_from_values():
    values = {"monitoring": {"enabled": True, "runbookURL": "https://docs.example.com/ops",
                             "rules": {"oldestMessageMinutes": 5, "failures": 7, "failureWindow": "1h",
                                       "rejectRatio": 0.2, "stalledMinutes": 45, "heartbeatFailures": 2,
                                       "sftpFailedLogins": 100, "deadLetterFor": "1m", "severity": "critical"}}}
    by = {r["alert"]: r for r in rules(values)}
    assert by["EsteiraOldestMessageTooOld"]["expr"].endswith("> 300")
    assert "[1h])) >= 7" in by["EsteiraFilesFailing"]["expr"]
    assert by["EsteiraRejectRatioHigh"]["expr"].endswith("> 0.2")
    assert "[45m]" in by["EsteiraQueueStalled"]["expr"]
    assert by["EsteiraHeartbeatFailures"]["expr"].endswith("> 2")
    assert by["EsteiraSFTPFailedLoginBurst"]["expr"].endswith("> 100")
    assert by["EsteiraDeadLetterQueueNotEmpty"]["for"] == "1m"
    for name, r in by.items():
        assert r["labels"]["severity"] == "critical"
        assert r["annotations"]["runbook_url"] == f"https://docs.example.com/ops#{name.lower()}"
        # Scoped to the release's namespace: another release's series never fire this one's alerts.
        for selector in re.findall(r"esteira_\w+\{([^}]*)\}", r["expr"]):
            assert 'namespace="esteira"' in selector, (name, r["expr"])
    assert all("runbook_url" not in r["annotations"] for r in rules())


def test_off_by_default():
    objects = render({})
    assert not [o for o in objects if o["kind"] in ("PrometheusRule", "PodMonitor")]
    assert not [o for o in objects if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"]]


def test_every_monitoring_object_is_valid_against_the_operator_crds():
    objects = render(EVERYTHING)
    monitoring = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(o["kind"] for o in monitoring) == ["PodMonitor", "PodMonitor", "PrometheusRule"]
    for obj in objects:
        validate(obj)
    assert only(objects, "PrometheusRule")["metadata"]["labels"]["release"] == "prometheus"


def test_a_crd_violation_is_caught():
    rule = only(render({"monitoring": {"enabled": True}}), "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(AssertionError, match="for"):
        validate(rule)
    monitor = [o for o in render(EVERYTHING) if o["kind"] == "PodMonitor"][0]
    monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] = "http"
    with pytest.raises(AssertionError):
        validate(monitor)


def test_pod_monitors_select_the_worker_and_gateway_pods_on_their_http_port():
    objects = render(EVERYTHING)
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodMonitor"}
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(monitors) == set(deployments) == {"esteira", "esteira-sftp"}
    for name, monitor in monitors.items():
        pod = deployments[name]["spec"]["template"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items()), name
        # ... and only its own component's pods.
        other = deployments[next(n for n in deployments if n != name)]["spec"]["template"]
        assert not all(other["metadata"]["labels"].get(k) == v for k, v in selector.items()), name
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["esteira"]


def test_pod_monitor_without_the_gateway_scrapes_the_worker_only():
    objects = render({"monitoring": {"podMonitor": {"enabled": True}}})
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "PodMonitor"] == ["esteira"]


def test_pod_monitor_and_service_monitor_together_are_refused():
    with pytest.raises(helm.errors.HelmRenderError, match="choose one"):
        render({"monitoring": {"podMonitor": {"enabled": True}}, "serviceMonitor": {"enabled": True}})


def test_the_dashboard_configmap_carries_the_sidecar_label_and_valid_json():
    cm = only([o for o in render(EVERYTHING) if o["kind"] == "ConfigMap"
               and o["metadata"]["name"] == "esteira-dashboard"], "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["esteira.json"])
    assert dashboard == json.loads((CHART / "files" / "dashboard.json").read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in ("Files per second by outcome", "Failures by reason", "Rows rejected", "Queue depth",
                   "Job duration", "SFTP logins"):
        assert any(t.startswith(wanted) for t in titles), (wanted, titles)
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for selector in re.findall(r"esteira_\w+\{([^}]*)\}", target["expr"]):
                assert 'namespace="$namespace"' in selector, (panel["title"], target["expr"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_label_is_configurable():
    values = {"monitoring": {"dashboard": {"enabled": True, "labels": {"grafana_dashboard": "esteira"},
                                           "annotations": {"grafana_folder": "Data"}}}}
    cm = next(o for o in render(values) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "esteira-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "esteira"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Data"}
    validate(cm)
