"""The Helm chart, rendered by the real Helm engine and checked object by object.

Each documented toggle (docs/DEPLOY.md) is one case of TOGGLES: rendered, every object
validated against its schema, then held to the wiring every release must have.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import PurePosixPath
from typing import Any

import helm_python as helm
import pytest
import yaml

from conftest import (CHART, DOCKERFILE, NAMESPACE, ROOT, env_of, kinds, notes, only,
                      render, validate)

EXAMPLE_ROUTES = yaml.safe_load((ROOT / "examples" / "routes.yaml").read_text())
IRSA_ROLE = "arn:aws:iam::123456789012:role/esteira-worker"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:esteira/mysql-AbCdEf"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/esteira-files"

# name -> values. Every toggle docs/DEPLOY.md describes is here.
TOGGLES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "production-like": {
        "image": {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/esteira", "tag": "1.2.3"},
        "aws": {"region": "eu-west-1"},
        "serviceAccount": {"roleArn": IRSA_ROLE},
        "mysql": {"secretArn": SECRET_ARN},
        "routes": {"routes": EXAMPLE_ROUTES["routes"]},
        "keda": {"queueURL": QUEUE_URL, "minReplicaCount": 1, "maxReplicaCount": 30},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    },
    "irsa": {"serviceAccount": {"roleArn": IRSA_ROLE}},
    "pod-identity-existing-sa": {"serviceAccount": {"create": False, "name": "esteira-worker"}},
    "mysql-secret-arn": {"mysql": {"secretArn": SECRET_ARN}},
    "routes-from-values": {"routes": {"routes": EXAMPLE_ROUTES["routes"], "extensions": [".csv", ".tsv"]}},
    "routes-existing-configmap": {"routes": {"existingConfigMap": "my-routes"}},
    "keda-role-arn": {"keda": {"authentication": {"roleArn": "arn:aws:iam::123456789012:role/keda-sqs"}}},
    "keda-workload-identity": {"keda": {"authentication": {"identityOwner": "workload"}}},
    "keda-no-fallback": {"keda": {"fallback": {"failureThreshold": 3, "replicas": 0}, "behavior": {}}},
    "keda-off-hpa": {"keda": {"enabled": False}},
    "keda-off-hpa-off": {"keda": {"enabled": False}, "hpa": {"enabled": False}, "replicaCount": 3},
    "local-stack": {"aws": {"endpointURL": "http://moto.esteira.svc:5000"}},
    "service-monitor": {"serviceMonitor": {"enabled": True}},
    "monitoring": {"monitoring": {"enabled": True, "podMonitor": {"enabled": True}, "dashboard": {"enabled": True}}},
    "dlq-replay": {"dlqReplay": {"enabled": True, "args": ["--filter", "tenant=acme", "--max", "100"]}},
    "max-waiting": {"worker": {"maxWaiting": 0}},
    "shutdown-grace-explicit": {"terminationGracePeriodSeconds": 120, "worker": {"shutdownGrace": 60}},
    "minimal": {"service": {"enabled": False}, "podDisruptionBudget": {"enabled": False},
                "topologySpread": {"enabled": False}, "preStop": {"sleepSeconds": 0}},
    "extras": {"extraVolumes": [{"name": "rds-ca", "configMap": {"name": "rds-ca"}}],
               "extraVolumeMounts": [{"name": "rds-ca", "mountPath": "/etc/rds", "readOnly": True}],
               "worker": {"extraEnv": [{"name": "EXTRA", "value": "1"}], "extraArgs": ["--until-idle"]},
               "podLabels": {"team": "data"}, "podAnnotations": {"example.com/a": "b"},
               "nodeSelector": {"kubernetes.io/arch": "amd64"},
               "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
               "priorityClassName": "batch", "imagePullSecrets": [{"name": "regcred"}],
               "tmp": {"medium": "Memory", "sizeLimit": "256Mi"}},
}


def merged(values: dict[str, Any]) -> dict[str, Any]:
    """The values a release really uses (chart defaults + overrides), as Helm merges them."""
    with helm.Chart.load(CHART) as chart:
        return chart.merge_values(values)


def image_uid() -> int:
    """The numeric USER of the Dockerfile's final stage."""
    users = re.findall(r"^USER\s+(\d+)(?::\d+)?\s*$", DOCKERFILE.read_text(), re.M)
    assert users, "the Dockerfile's USER must be numeric (runAsNonRoot needs it)"
    return int(users[-1])


def pod_labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="module", params=sorted(TOGGLES), ids=sorted(TOGGLES))
def case(request):
    values = TOGGLES[request.param]
    return request.param, merged(values), render(values)


def test_every_object_is_valid(case):
    name, _, objects = case
    assert objects, name
    for obj in objects:
        validate(obj)
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "esteira"


def test_wiring(case):
    """What every release must get right, whatever the toggles."""
    name, v, objects = case
    deployment = only(objects, "Deployment")
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    container = only([{"kind": "c", **c} for c in spec["containers"]], "c")
    env = env_of(container)
    labels = pod["metadata"]["labels"]
    assert pod_labels_match(deployment["spec"]["selector"]["matchLabels"], labels)

    # Identity: the pod runs as the ServiceAccount the chart made (or was told to use).
    if v["serviceAccount"]["create"]:
        sa = only(objects, "ServiceAccount")
        assert spec["serviceAccountName"] == sa["metadata"]["name"]
        annotations = sa["metadata"].get("annotations", {})
        if v["serviceAccount"]["roleArn"]:
            assert annotations["eks.amazonaws.com/role-arn"] == v["serviceAccount"]["roleArn"]
        else:
            assert "eks.amazonaws.com/role-arn" not in annotations
    else:
        assert "ServiceAccount" not in kinds(objects)
        assert spec["serviceAccountName"] == v["serviceAccount"]["name"]
    assert spec["automountServiceAccountToken"] is False

    # Routes: ESTEIRA_ROUTES names a file inside the mounted routes ConfigMap.
    routes_path = PurePosixPath(env["ESTEIRA_ROUTES"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {vol["name"]: vol for vol in spec["volumes"]}
    assert mounts["routes"]["mountPath"] == str(routes_path.parent)
    assert mounts["routes"]["readOnly"] is True
    cm_name = volumes["routes"]["configMap"]["name"]
    if v["routes"]["existingConfigMap"]:
        assert cm_name == v["routes"]["existingConfigMap"]
        assert "ConfigMap" not in kinds(objects)
    else:
        cm = only([o for o in objects if o["metadata"]["name"].endswith("-routes")], "ConfigMap")
        assert cm["metadata"]["name"] == cm_name
        routes_file = yaml.safe_load(cm["data"][routes_path.name])
        assert routes_file["routes"] == v["routes"]["routes"]
        assert "checksum/routes" in pod["metadata"]["annotations"]

    # AWS resources and region come from values.
    assert env["AWS_REGION"] == v["aws"]["region"]
    assert env["ESTEIRA_QUEUE"] == v["worker"]["queue"]
    assert env["ESTEIRA_DLQ"] == v["worker"]["deadLetterQueue"]
    landing = [v["worker"]["bucket"]]
    if v["sftp"]["enabled"] and v["sftp"]["bucket"] and v["sftp"]["bucket"] != v["worker"]["bucket"]:
        landing.append(v["sftp"]["bucket"])
    assert env["ESTEIRA_BUCKET"] == ",".join(landing)
    assert env["ESTEIRA_JOBS_TABLE"] == v["worker"]["jobsTable"]
    assert (env["ESTEIRA_LOG_LEVEL"], env["ESTEIRA_LOG_FORMAT"]) == (v["worker"]["logLevel"], v["worker"]["logFormat"])
    assert env.get("AWS_ENDPOINT_URL") == (v["aws"]["endpointURL"] or None)
    if v["mysql"]["secretArn"]:
        assert env["ESTEIRA_MYSQL_SECRET_ARN"] == v["mysql"]["secretArn"]
        assert "ESTEIRA_MYSQL_URL" not in env
    else:
        ref = env["ESTEIRA_MYSQL_URL"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (v["mysql"]["existingSecret"]["name"], v["mysql"]["existingSecret"]["key"])
        assert "ESTEIRA_MYSQL_SECRET_ARN" not in env
    assert container["args"][:5] == ["worker", f"--concurrency={v['worker']['concurrency']}",
                                     f"--visibility-timeout={v['worker']['visibilityTimeout']}",
                                     f"--lease={v['worker']['lease']}", f"--attempts={v['worker']['attempts']}"]

    # --max-waiting only when set (0 is a value: a waiting file keeps its slot); else the worker's default.
    waiting = [a for a in container["args"] if a.startswith("--max-waiting")]
    expected = [] if v["worker"].get("maxWaiting") is None else [f"--max-waiting={v['worker']['maxWaiting']}"]
    assert waiting == expected

    # Probes and metrics all reach the port the worker serves on.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(env["ESTEIRA_HTTP_PORT"]) == v["worker"]["httpPort"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    if v["service"]["enabled"]:
        svc = only(objects, "Service")
        assert pod_labels_match(svc["spec"]["selector"], labels)
        assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]

    # Shutdown: the grace period covers preStop plus time to finish the files in flight.
    grace = spec["terminationGracePeriodSeconds"]
    assert grace == v["terminationGracePeriodSeconds"]
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if v["preStop"]["sleepSeconds"]:
        assert pre_stop == {"exec": {"command": ["/bin/sleep", str(v["preStop"]["sleepSeconds"])]}}
        assert grace >= v["preStop"]["sleepSeconds"] + 30
    else:
        assert pre_stop is None
    # The worker stops finishing files early enough to give the rest back before SIGKILL.
    shutdown = [a for a in container["args"] if a.startswith("--shutdown-grace=")]
    assert len(shutdown) == 1
    shutdown_grace = int(shutdown[0].split("=")[1])
    if v["worker"]["shutdownGrace"] == "auto":
        assert shutdown_grace == grace - v["preStop"]["sleepSeconds"] - 15
    else:
        assert shutdown_grace == v["worker"]["shutdownGrace"]
    assert v["preStop"]["sleepSeconds"] + shutdown_grace + 15 <= grace

    # Hardening: non-root as the image's user, read-only root, /tmp writable, no privileges.
    psc, csc = spec["securityContext"], container["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == image_uid()
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"]
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    # Spreading and disruption budget select exactly the worker pods.
    if v["topologySpread"]["enabled"]:
        constraints = spec["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in constraints] == v["topologySpread"]["topologyKeys"]
        for c in constraints:
            assert pod_labels_match(c["labelSelector"]["matchLabels"], labels)
    else:
        assert "topologySpreadConstraints" not in spec
    if v["podDisruptionBudget"]["enabled"]:
        pdb = only(objects, "PodDisruptionBudget")
        assert pod_labels_match(pdb["spec"]["selector"]["matchLabels"], labels)
    else:
        assert "PodDisruptionBudget" not in kinds(objects)

    # Scaling: KEDA, else the HPA, else a fixed count; never two at once.
    if v["keda"]["enabled"]:
        assert "HorizontalPodAutoscaler" not in kinds(objects)
        assert "replicas" not in deployment["spec"]
        check_keda(objects, v, deployment, env)
    elif v["hpa"]["enabled"]:
        assert "ScaledObject" not in kinds(objects)
        hpa = only(objects, "HorizontalPodAutoscaler")
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deployment["metadata"]["name"]}
        assert hpa["spec"]["minReplicas"] >= 1
        assert "replicas" not in deployment["spec"]
    else:
        assert not {"ScaledObject", "HorizontalPodAutoscaler"} & set(kinds(objects))
        assert deployment["spec"]["replicas"] == v["replicaCount"]


def check_keda(objects, v, deployment, env):
    so = only(objects, "ScaledObject")
    auth = only(objects, "TriggerAuthentication")
    k = v["keda"]
    assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert so["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (k["minReplicaCount"], k["maxReplicaCount"])
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    meta = trigger["metadata"]
    # KEDA watches the queue the worker consumes, in the region the worker uses.
    assert meta["queueURL"] == (k["queueURL"] or env["ESTEIRA_QUEUE"])
    assert meta["queueURL"].rstrip("/").split("/")[-1] == env["ESTEIRA_QUEUE"]
    assert meta["awsRegion"] == env["AWS_REGION"]
    assert meta.get("awsEndpoint") == env.get("AWS_ENDPOINT_URL")
    assert meta["queueLength"] == str(k["queueLength"] or v["worker"]["concurrency"])
    assert meta["activationQueueLength"] == str(k["activationQueueLength"])
    assert meta["scaleOnInFlight"] == str(k["scaleOnInFlight"]).lower()
    # No static keys: the AWS pod identity of KEDA, of the workload, or an assumed role.
    identity = auth["spec"]["podIdentity"]
    assert identity["provider"] == "aws"
    if k["authentication"]["roleArn"]:
        assert identity == {"provider": "aws", "roleArn": k["authentication"]["roleArn"]}
    else:
        assert identity == {"provider": "aws", "identityOwner": k["authentication"]["identityOwner"]}
    assert set(auth["spec"]) == {"podIdentity"}
    if k["fallback"]["replicas"]:
        assert so["spec"]["fallback"] == k["fallback"]
    else:
        assert "fallback" not in so["spec"]


def test_default_release_scales_to_zero_on_queue_depth():
    objects = render()
    assert kinds(objects) == sorted(["ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject",
                                     "Service", "ServiceAccount", "TriggerAuthentication"])
    so = only(objects, "ScaledObject")
    assert so["spec"]["minReplicaCount"] == 0
    meta = so["spec"]["triggers"][0]["metadata"]
    assert (meta["queueURL"], meta["awsRegion"], meta["queueLength"], meta["scaleOnInFlight"]) == \
           ("esteira-files", "us-east-1", "4", "true")


def test_grace_period_comes_from_values():
    spec = only(render({"terminationGracePeriodSeconds": 3600}), "Deployment")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 3600


def test_routes_configmap_is_the_example_routes_file():
    """The rendered file is what the worker parses: same routes as examples/routes.yaml."""
    cm = only(render({"routes": {"routes": EXAMPLE_ROUTES["routes"]}}), "ConfigMap")
    assert yaml.safe_load(cm["data"]["routes.yaml"]) == {"routes": EXAMPLE_ROUTES["routes"]}


def test_routes_change_rolls_the_pods():
    def checksum(values):
        return only(render(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/routes"]
    one = {"routes": {"routes": EXAMPLE_ROUTES["routes"][:1]}}
    assert checksum(one) == checksum(copy.deepcopy(one))
    assert checksum(one) != checksum({"routes": {"routes": EXAMPLE_ROUTES["routes"]}})


def test_service_monitor_scrapes_metrics_of_the_service():
    # Validated against the Prometheus Operator's CRD by test_every_object_is_valid; the wiring here.
    objects = render({"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}})
    sm, svc = only(objects, "ServiceMonitor"), only(objects, "Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm["spec"]) == {"selector", "namespaceSelector", "endpoints"}
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert pod_labels_match(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = sm["spec"]["endpoints"]
    assert set(endpoint) == {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] == svc["spec"]["ports"][0]["name"] and endpoint["path"] == "/metrics"


def test_service_monitor_without_service_is_refused():
    with pytest.raises(helm.HelmError, match="needs service.enabled"):
        render({"serviceMonitor": {"enabled": True}, "service": {"enabled": False}})


def test_dlq_replay_job_shares_the_workers_wiring():
    objects = render({"dlqReplay": {"enabled": True}, "mysql": {"secretArn": SECRET_ARN}})
    job, deployment = only(objects, "Job"), only(objects, "Deployment")
    assert job["metadata"]["name"] == "esteira-dlq-replay-1"  # carries the revision
    jspec, wspec = job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]
    (jc,), (wc,) = jspec["containers"], wspec["containers"]
    assert jc["args"] == ["dlq", "replay", "--all"]
    assert jspec["restartPolicy"] == "Never"
    for field in ("serviceAccountName", "securityContext", "volumes", "automountServiceAccountToken"):
        assert jspec[field] == wspec[field], field
    assert env_of(jc) == env_of(wc) and jc["volumeMounts"] == wc["volumeMounts"]
    assert jc["securityContext"] == wc["securityContext"]
    # The worker's selectors (Service, PDB, spread) must not take the Job's pod for a worker.
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert not pod_labels_match(selector, job["spec"]["template"]["metadata"]["labels"])


def test_irsa_and_pod_identity_notes():
    assert "EKS Pod Identity" in notes()
    assert "EKS Pod Identity" not in notes({"serviceAccount": {"roleArn": IRSA_ROLE}})


@pytest.mark.parametrize("values, message", [
    ({"wokrer": {}}, "additional properties"),  # a typo fails instead of vanishing
    ({"worker": {"concurrency": 0}}, "minimum"),
    ({"worker": {"visibilityTimeout": 5}}, "minimum"),
    ({"worker": {"maxWaiting": -1}}, "minimum"),
    ({"routes": {"loadBudget": {"per_tabel": 1}}}, "additional properties"),
    ({"routes": {"loadBudget": {"tables": {"t": 0}}}}, "minimum"),
    ({"keda": {"minReplicaCount": -1}}, "minimum"),
    ({"aws": {"region": "Ireland"}}, "pattern"),
    ({"routes": {"routes": [{"name": "r", "tenant": "acme", "table": "bad-table"}]}}, "pattern"),
    ({"routes": {"routes": [{"name": "r", "tenant": "acme"}]}}, "table"),
    ({"serviceAccount": {"roleArn": "worker-role"}}, "pattern"),
    ({"terminationGracePeriodSeconds": 10}, "minimum"),
    ({"worker": {"shutdownGrace": "forever"}}, "shutdownGrace"),
])
def test_schema_refuses_bad_values(values, message):
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)


@pytest.mark.parametrize("values, message", [
    ({"keda": {"minReplicaCount": 5, "maxReplicaCount": 2}}, "maxReplicaCount must be at least"),
    ({"keda": {"enabled": False}, "hpa": {"minReplicas": 5, "maxReplicas": 2}}, "maxReplicas must be at least"),
    ({"terminationGracePeriodSeconds": 40, "preStop": {"sleepSeconds": 30}}, "terminationGracePeriodSeconds must exceed"),
    ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ({"terminationGracePeriodSeconds": 120, "worker": {"shutdownGrace": 110}}, "must leave 15s before the kill"),
    ({"dlqReplay": {"enabled": True, "args": []}}, "must say what to replay"),
])
def test_templates_refuse_inconsistent_values(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_validators_catch_mistakes():
    """The validation above is not vacuous: a misspelt field fails each validator."""
    objects = render()
    deployment = copy.deepcopy(only(objects, "Deployment"))
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(AssertionError, match="terminationGracePeriod"):
        validate(deployment)
    so = copy.deepcopy(only(objects, "ScaledObject"))
    so["spec"]["minReplicas"] = 0
    with pytest.raises(AssertionError, match="minReplicas"):
        validate(so)
    auth = copy.deepcopy(only(objects, "TriggerAuthentication"))
    auth["spec"]["podIdentity"]["provider"] = "aws-iam"
    with pytest.raises(AssertionError, match="provider"):
        validate(auth)


def test_helm_lint_is_clean():
    report = helm.lint(CHART, strict=True, namespace=NAMESPACE)
    # Severity 1 is informational ("icon is recommended"); warnings (2) and errors (3) fail.
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_every_value_is_commented():
    """values.yaml documents each key: a comment on the lines just above it or at its end."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z][\w.-]*):(\s|$)", line)
        if not m:
            continue
        inline = "#" in line[m.end():]
        above = i > 0 and lines[i - 1].strip().startswith("#")
        if not (inline or above):
            undocumented.append(f"values.yaml:{i + 1}: {line.strip()}")
    assert not undocumented, "\n".join(undocumented)


def test_schema_covers_every_value():
    """values.schema.json knows each key values.yaml sets (it refuses unknown keys, so a
    key missing from it would make the chart's own defaults fail)."""
    with helm.Chart.load(CHART) as chart:
        schema, values = chart.schema, chart.values

    def walk(value, node, path):
        if isinstance(value, dict) and "properties" in node:
            for key, sub in value.items():
                assert key in node["properties"], f"{path}{key} not in values.schema.json"
                walk(sub, node["properties"][key], f"{path}{key}.")
    walk(values, schema, "")


def test_notify_values_become_the_workers_environment():
    values = {"worker": {"notify": {"snsTopic": "arn:aws:sns:us-east-1:123456789012:files",
                                    "webhook": "https://hooks.example.com/esteira", "on": "failed,succeeded",
                                    "webhookSecret": {"name": "esteira-notify"}}}}
    (container,) = only(render(values), "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ESTEIRA_NOTIFY_SNS_TOPIC"]["value"] == "arn:aws:sns:us-east-1:123456789012:files"
    assert env["ESTEIRA_NOTIFY_WEBHOOK"]["value"] == "https://hooks.example.com/esteira"
    assert env["ESTEIRA_NOTIFY_ON"]["value"] == "failed,succeeded"
    assert env["ESTEIRA_NOTIFY_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "esteira-notify", "key": "secret"}
    default_env = {e["name"] for e in only(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not any(name.startswith("ESTEIRA_NOTIFY") for name in default_env)


@pytest.mark.parametrize("notify", [
    {"webhook": "http://hooks.example.com/x", "webhookSecret": {"name": "s"}},   # plain http off loopback
    {"webhook": "https://hooks.example.com/x"},                                  # no signing secret
    {"on": "sometimes"},
])
def test_notify_refuses_bad_values(notify):
    with pytest.raises(Exception):
        render({"worker": {"notify": notify}})


def test_fair_share_scales_on_the_sum_of_every_tenant_queue():
    """fairShare.tenants: one named trigger per queue (the shared one and <queue>-<tenant>), and
    scalingModifiers summing them, so a backlog spread over tenants scales as one queue would."""
    values = {"fairShare": {"tenants": ["acme", "globex-br"], "weights": {"acme": 3}},
              "routes": {"routes": EXAMPLE_ROUTES["routes"]},
              "keda": {"queueURL": QUEUE_URL}}
    objects = render(values)
    for obj in objects:
        validate(obj)
    so = only(objects, "ScaledObject")
    triggers = so["spec"]["triggers"]
    assert [t["metadata"]["queueURL"] for t in triggers] == [
        QUEUE_URL, QUEUE_URL + "-acme", QUEUE_URL + "-globex-br"]
    names = [t["name"] for t in triggers]
    assert names == ["shared", "tenant0_acme", "tenant1_globex_br"]
    assert all(t["type"] == "aws-sqs-queue" and t["metadata"]["queueLength"] == "4" for t in triggers)
    modifiers = so["spec"]["advanced"]["scalingModifiers"]
    assert modifiers["formula"] == "shared + tenant0_acme + tenant1_globex_br"
    assert (modifiers["target"], modifiers["metricType"]) == ("4", "AverageValue")
    # The HPA behaviour is kept next to the modifiers.
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    # The rendered routes file asks the worker for the tenants' queues.
    routes = yaml.safe_load(only(objects, "ConfigMap")["data"]["routes.yaml"])
    assert routes["fair_share"] == {"queues": "per_tenant", "weights": {"acme": 3}}


def test_rendered_routes_file_with_budget_and_fair_share_is_accepted_by_the_worker(tmp_path):
    """routes.loadBudget and fairShare land in the rendered routes file as the worker's own sections,
    and `esteira routes check` (the worker's rules) accepts the file; a budget naming a table no route
    loads into is refused by the same check, naming it."""
    from test_image import binary_under_test
    esteira, _ = binary_under_test()
    budget = {"per_database": 8, "per_table": 2, "tables": {EXAMPLE_ROUTES["routes"][0]["table"]: 1}}
    values = {"routes": {"routes": EXAMPLE_ROUTES["routes"], "loadBudget": budget},
              "fairShare": {"tenants": sorted({r["tenant"] for r in EXAMPLE_ROUTES["routes"]})}}
    text = only(render(values), "ConfigMap")["data"]["routes.yaml"]
    assert yaml.safe_load(text)["load_budget"] == budget
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    ok = subprocess.run([str(esteira), "routes", "check", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    values["routes"]["loadBudget"] = {"tables": {"no_such_table": 1}}
    path.write_text(only(render(values), "ConfigMap")["data"]["routes.yaml"])
    bad = subprocess.run([str(esteira), "routes", "check", str(path)], capture_output=True, text=True)
    assert bad.returncode != 0 and "no_such_table" in bad.stdout + bad.stderr, bad.stdout + bad.stderr


def test_without_fair_share_one_unnamed_trigger_and_no_modifiers():
    so = only(render(), "ScaledObject")
    assert len(so["spec"]["triggers"]) == 1 and "name" not in so["spec"]["triggers"][0]
    assert "scalingModifiers" not in so["spec"].get("advanced", {})
    routes = yaml.safe_load(only(render(), "ConfigMap")["data"]["routes.yaml"])
    assert "fair_share" not in routes
