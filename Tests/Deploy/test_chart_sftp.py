"""The chart's optional SFTP gateway (sftp.enabled): rendered by the real Helm engine with
the gateway on in each documented shape, every object validated, then held to the wiring
`esteira sftp` needs (Sources/esteira/Commands/SFTPCommand.swift is read for its flags and
environment names, so a renamed flag fails here rather than in a crash-looping pod)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import helm_python as helm
import pytest
import yaml

from conftest import ROOT, env_of, kinds, only, render, validate
from test_chart import merged, pod_labels_match

SFTP_COMMAND = ROOT / "Sources" / "esteira" / "Commands" / "SFTPCommand.swift"
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@acme"
SCRYPT = "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmE"
USERS = [{"name": "acme", "home": "acme/data", "permissions": ["read", "write"], "keys": [ED25519]},
         {"name": "globex", "home": "globex/data", "password": SCRYPT}]
GATEWAY_ROLE = "arn:aws:iam::123456789012:role/esteira-sftp"
USERS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:esteira/sftp-users-AbCdEf"
COMPONENT = "sftp-gateway"


def gateway(values: dict[str, Any]) -> dict[str, Any]:
    return {"sftp": {"enabled": True, **values}}


# name -> values. Each shape of the gateway docs/DEPLOY.md describes.
CASES: dict[str, dict[str, Any]] = {
    "users-in-values": gateway({"users": {"users": USERS}}),
    "users-existing-secret": gateway({"users": {"existingSecret": "sftp-users"}}),
    "users-existing-configmap": gateway({"users": {"existingConfigMap": "sftp-users"}}),
    "users-secrets-manager": gateway({"users": {"secretsManagerId": USERS_SECRET},
                                      "serviceAccount": {"roleArn": GATEWAY_ROLE}}),
    "users-file-and-secrets-manager": gateway({"users": {"existingSecret": "sftp-users", "secretsManagerId": USERS_SECRET}}),
    "replicated": gateway({"replicaCount": 3, "hostKeys": {"existingSecret": "sftp-host-keys"},
                           "users": {"existingSecret": "sftp-users"}}),
    "nodeport": gateway({"users": {"users": USERS}, "service": {"type": "NodePort", "nodePort": 30022}}),
    "nlb-allowlist": gateway({"users": {"users": USERS}, "service": {
        "loadBalancerClass": "service.k8s.aws/nlb", "loadBalancerSourceRanges": ["203.0.113.0/24"],
        "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}}}),
    "minimal": gateway({"users": {"users": USERS}, "preStop": {"sleepSeconds": 0},
                        "podDisruptionBudget": {"enabled": False}, "metricsService": {"enabled": False}}),
    "existing-sa": gateway({"users": {"users": USERS}, "serviceAccount": {"create": False, "name": "sftp-pods"}}),
    "service-monitor": {**gateway({"users": {"users": USERS}}), "serviceMonitor": {"enabled": True}},
    "own-bucket-and-settings": gateway({
        "users": {"users": USERS}, "bucket": "partners-inbox", "port": 2022, "httpPort": 9191,
        "settings": {"maxSessionsPerUser": 2, "idleTimeout": 120, "loginGrace": 30, "maxFileSize": "10G",
                     "partSizeMiB": 16, "failedLoginDelay": 2, "maxChannelsPerConnection": 4, "uploadMemoryMiB": 256,
                     "healthS3Timeout": 30},
        "extraArgs": ["--host=0.0.0.0"], "extraEnv": [{"name": "EXTRA", "value": "1"}]}),
    "production-like": {
        "image": {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/esteira", "tag": "1.2.3"},
        "aws": {"region": "eu-west-1"},
        "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/esteira-worker"},
        **gateway({"replicaCount": 2, "hostKeys": {"existingSecret": "sftp-host-keys"},
                   "users": {"secretsManagerId": USERS_SECRET}, "serviceAccount": {"roleArn": GATEWAY_ROLE},
                   "service": {"loadBalancerSourceRanges": ["198.51.100.7/32"]}}),
    },
}


def is_gateway(obj: dict[str, Any]) -> bool:
    return obj["metadata"]["labels"].get("app.kubernetes.io/component") == COMPONENT


def of_kind(objects, kind, gateway_side: bool) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and is_gateway(o) == gateway_side]


def one(objects, kind, gateway_side=True) -> dict[str, Any]:
    found = of_kind(objects, kind, gateway_side)
    assert len(found) == 1, f"expected one {'gateway' if gateway_side else 'worker'} {kind}, got {len(found)}"
    return found[0]


def swift_command() -> tuple[set[str], set[str]]:
    """The long flags and the environment variables `esteira sftp` reads, from its source."""
    source = SFTP_COMMAND.read_text()
    serve = source[source.index("struct SFTPServeCommand"):source.index("struct SFTPHashPasswordCommand")]
    flags = set()
    # @Option(...) / @Flag(...) (parentheses nest one level: .customLong("x"), "(env X)"), then the var.
    for m in re.finditer(r'@(?:Option|Flag)\(((?:[^()]|\([^()]*\))*)\)\s*var (\w+)', serve):
        custom = re.search(r'customLong\("([^"]+)"\)', m.group(1))
        flags.add(custom.group(1) if custom else re.sub(r"(?<!^)([A-Z])", r"-\1", m.group(2)).lower())
    envs = set(re.findall(r'env\("([A-Z_]+)"\)', serve))
    return flags, envs


@pytest.fixture(scope="module", params=sorted(CASES), ids=sorted(CASES))
def case(request):
    values = CASES[request.param]
    return request.param, merged(values), render(values)


def test_every_object_is_valid(case):
    name, _, objects = case
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            continue  # no schema offline; checked in test_service_monitor_scrapes_the_gateway
        validate(obj)


def test_gateway_wiring(case):
    name, v, objects = case
    s = v["sftp"]
    deployment = one(objects, "Deployment")
    worker = one(objects, "Deployment", gateway_side=False)
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    env = env_of(container)
    labels = pod["metadata"]["labels"]
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert pod_labels_match(deployment["spec"]["selector"]["matchLabels"], labels)
    assert not pod_labels_match(deployment["spec"]["selector"]["matchLabels"], worker_labels)
    assert deployment["spec"]["replicas"] == s["replicaCount"]

    # The command and its flags and environment are the ones `esteira sftp` really reads.
    flags, envs = swift_command()
    assert container["args"][0] == "sftp"
    for arg in container["args"][1:]:
        assert arg.startswith("--") and arg[2:].split("=")[0] in flags, f"{arg}: not a flag of esteira sftp"
    settings = s["settings"]
    assert container["args"][1:7] == [
        f"--max-sessions-per-user={settings['maxSessionsPerUser']}", f"--idle-timeout={settings['idleTimeout']}",
        f"--login-grace={settings['loginGrace']}", f"--max-file-size={settings['maxFileSize']}",
        f"--part-size-mib={settings['partSizeMiB']}", f"--failed-login-delay={settings['failedLoginDelay']}"]
    assert container["args"][7:10] == [
        f"--max-channels-per-connection={settings['maxChannelsPerConnection']}",
        f"--upload-memory-mib={settings['uploadMemoryMiB']}", f"--health-s3-timeout={settings['healthS3Timeout']}"]
    for key in env:
        if key.startswith("ESTEIRA_SFTP_") or key == "ESTEIRA_BUCKET":
            assert key in envs, f"{key}: esteira sftp does not read it"
    assert env["ESTEIRA_BUCKET"] == (s["bucket"] or v["worker"]["bucket"])
    assert env["AWS_REGION"] == v["aws"]["region"]

    # Ports: the SSH port the gateway listens on is the one the Service targets; the probes
    # and the metrics Service reach the HTTP port.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["ssh"] == int(env["ESTEIRA_SFTP_PORT"]) == s["port"]
    assert ports["http"] == int(env["ESTEIRA_SFTP_HTTP_PORT"]) == s["httpPort"]
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    # Liveness must not follow the bucket: a restart would not bring it back.
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}

    services = of_kind(objects, "Service", gateway_side=True)
    svc = next(x for x in services if x["metadata"]["name"] == deployment["metadata"]["name"])
    assert svc["spec"]["type"] == s["service"]["type"] in ("LoadBalancer", "NodePort")
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    (port,) = svc["spec"]["ports"]  # SSH only: /metrics never faces the internet
    assert (port["port"], port["targetPort"], port["protocol"]) == (s["service"]["port"], "ssh", "TCP")
    assert port["port"] == 22 or name == "own-bucket-and-settings"
    if s["service"]["type"] == "NodePort" and s["service"]["nodePort"]:
        assert port["nodePort"] == s["service"]["nodePort"]
    else:
        assert "nodePort" not in port
    if s["service"]["type"] == "LoadBalancer":
        assert svc["spec"].get("loadBalancerSourceRanges", []) == s["service"]["loadBalancerSourceRanges"]
        assert svc["spec"].get("loadBalancerClass", "") == s["service"]["loadBalancerClass"]
    assert svc["metadata"].get("annotations", {}) == s["service"]["annotations"]
    for x in services:
        assert pod_labels_match(x["spec"]["selector"], labels)
        assert not pod_labels_match(x["spec"]["selector"], worker_labels)
    metrics = [x for x in services if x is not svc]
    if s["metricsService"]["enabled"]:
        (m,) = metrics
        assert m["spec"]["type"] == "ClusterIP"
        assert [(p["port"], p["targetPort"]) for p in m["spec"]["ports"]] == [(s["httpPort"], "http")]
    else:
        assert metrics == []
    # ...and the worker's Service, PDB and spreading never select a gateway pod.
    for kind in ("Service", "PodDisruptionBudget"):
        for x in of_kind(objects, kind, gateway_side=False):
            selector = x["spec"]["selector"]
            assert not pod_labels_match(selector.get("matchLabels", selector), labels), kind

    # Host keys: a Secret mounted read-only at ESTEIRA_SFTP_HOST_KEY_DIR, mode 0600; without
    # one (one replica only) an emptyDir the gateway writes new keys into.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {vol["name"]: vol for vol in spec["volumes"]}
    assert mounts["host-keys"]["mountPath"] == env["ESTEIRA_SFTP_HOST_KEY_DIR"]
    if s["hostKeys"]["existingSecret"]:
        secret = volumes["host-keys"]["secret"]
        assert secret["secretName"] == s["hostKeys"]["existingSecret"]
        assert secret["defaultMode"] == 0o600
        assert mounts["host-keys"]["readOnly"] is True
    else:
        assert s["replicaCount"] <= 1
        assert "emptyDir" in volumes["host-keys"]
        assert mounts["host-keys"].get("readOnly") is not True

    # Users: a file ESTEIRA_SFTP_USERS names inside the mounted users volume, and/or a Secrets
    # Manager id in ESTEIRA_SFTP_USERS_SECRET (the gateway serves both sets).
    u = s["users"]
    file_source = u["users"] or u["existingSecret"] or u["existingConfigMap"]
    assert env.get("ESTEIRA_SFTP_USERS_SECRET") == (u["secretsManagerId"] or None)
    if not file_source:
        assert "ESTEIRA_SFTP_USERS" not in env
        assert "users" not in mounts and "users" not in volumes
        assert not of_kind(objects, "Secret", gateway_side=True)
    else:
        path = PurePosixPath(env["ESTEIRA_SFTP_USERS"])
        assert mounts["users"]["mountPath"] == str(path.parent) and mounts["users"]["readOnly"] is True
        volume = volumes["users"]
        if u["users"]:
            users_secret = one(objects, "Secret")
            assert volume["secret"]["secretName"] == users_secret["metadata"]["name"]
            assert yaml.safe_load(users_secret["stringData"][path.name]) == {"users": u["users"]}
            assert "checksum/sftp-users" in pod["metadata"]["annotations"]
        elif u["existingSecret"]:
            assert volume["secret"]["secretName"] == u["existingSecret"]
            assert volume["secret"]["items"] == [{"key": "users.yaml", "path": path.name}]
        else:
            assert volume["configMap"]["name"] == u["existingConfigMap"]
            assert volume["configMap"]["items"] == [{"key": "users.yaml", "path": path.name}]

    # Identity: its own ServiceAccount (its role may write the bucket; the worker's may not).
    assert spec["serviceAccountName"] != worker["spec"]["template"]["spec"]["serviceAccountName"]
    if s["serviceAccount"]["create"]:
        sa = one(objects, "ServiceAccount")
        assert spec["serviceAccountName"] == sa["metadata"]["name"] == "esteira-sftp"
        annotations = sa["metadata"].get("annotations", {})
        assert annotations.get("eks.amazonaws.com/role-arn") == (s["serviceAccount"]["roleArn"] or None)
    else:
        assert not of_kind(objects, "ServiceAccount", gateway_side=True)
        assert spec["serviceAccountName"] == s["serviceAccount"]["name"]
    assert spec["automountServiceAccountToken"] is False

    # Shutdown: preStop lets uploads in progress finish while the pod leaves the load
    # balancer; SIGTERM then leaves the gateway its 10 s to close sessions, within the grace.
    grace = spec["terminationGracePeriodSeconds"]
    assert grace == s["terminationGracePeriodSeconds"] == 30 or name != "defaults"
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if s["preStop"]["sleepSeconds"]:
        assert pre_stop == {"exec": {"command": ["/bin/sleep", str(s["preStop"]["sleepSeconds"])]}}
    else:
        assert pre_stop is None
    assert s["preStop"]["sleepSeconds"] + 15 <= grace

    # Hardening: exactly the worker's.
    worker_spec = worker["spec"]["template"]["spec"]
    assert spec["securityContext"] == worker_spec["securityContext"]
    assert container["securityContext"] == worker_spec["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]
    assert container["image"] == worker_spec["containers"][0]["image"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    # Disruption budget and spreading select exactly the gateway pods.
    pdbs = of_kind(objects, "PodDisruptionBudget", gateway_side=True)
    if s["podDisruptionBudget"]["enabled"]:
        (pdb,) = pdbs
        assert pod_labels_match(pdb["spec"]["selector"]["matchLabels"], labels)
        assert not pod_labels_match(pdb["spec"]["selector"]["matchLabels"], worker_labels)
    else:
        assert pdbs == []
    for c in spec.get("topologySpreadConstraints", []):
        assert pod_labels_match(c["labelSelector"]["matchLabels"], labels)
        assert not pod_labels_match(c["labelSelector"]["matchLabels"], worker_labels)


def test_the_gateway_is_off_by_default():
    for values in ({}, {"sftp": {"users": {"users": USERS}}}):
        objects = render(values)
        assert not [o for o in objects if is_gateway(o)]
        assert "SFTP gateway" not in "".join(o["metadata"]["name"] for o in objects)
    assert merged({})["sftp"]["enabled"] is False


def test_the_worker_loads_from_the_gateways_own_bucket_too():
    """The worker dead-letters events for buckets it was not given (ForeignBucket): a gateway with a
    bucket of its own must add it to the worker's ESTEIRA_BUCKET list."""
    def worker_buckets(values):
        deployment = next(o for o in render(values) if o["kind"] == "Deployment" and not is_gateway(o))
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        return env["ESTEIRA_BUCKET"]
    assert worker_buckets(CASES["own-bucket-and-settings"]) == "esteira-landing,partners-inbox"
    assert worker_buckets(CASES["users-in-values"]) == "esteira-landing"
    assert worker_buckets({"sftp": {"bucket": "partners-inbox"}}) == "esteira-landing"


def test_default_gateway_objects():
    objects = [o for o in render(CASES["users-in-values"]) if is_gateway(o)]
    assert kinds(objects) == sorted(["Deployment", "PodDisruptionBudget", "Secret", "Service", "Service",
                                     "ServiceAccount"])
    svc = next(o for o in objects if o["kind"] == "Service" and o["spec"]["type"] != "ClusterIP")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"] == [{"name": "ssh", "port": 22, "targetPort": "ssh", "protocol": "TCP"}]
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"ssh": 2222, "http": 9091}
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30


def test_users_change_rolls_the_gateway():
    def checksum(users):
        objects = render(gateway({"users": {"users": users}}))
        return one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/sftp-users"]
    assert checksum(USERS) == checksum([dict(u) for u in USERS])
    assert checksum(USERS) != checksum(USERS[:1])


def test_service_monitor_scrapes_the_gateway():
    objects = render(CASES["service-monitor"])
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceMonitor"}
    assert set(monitors) == {"esteira", "esteira-sftp"}
    sm = monitors["esteira-sftp"]
    metrics = next(o for o in of_kind(objects, "Service", True) if o["spec"]["type"] == "ClusterIP")
    lb = next(o for o in of_kind(objects, "Service", True) if o["spec"]["type"] == "LoadBalancer")
    assert pod_labels_match(sm["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
    assert not pod_labels_match(sm["spec"]["selector"]["matchLabels"], lb["metadata"]["labels"])
    assert not pod_labels_match(monitors["esteira"]["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
    (endpoint,) = sm["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")


def test_notes_warn_about_generated_host_keys():
    from conftest import notes
    assert "generates new host keys at every pod" in notes(CASES["users-in-values"])
    assert "generates new host keys" not in notes(CASES["replicated"])
    assert "SFTP gateway" not in notes()


@pytest.mark.parametrize("values, message", [
    (gateway({"replicaCount": 2, "users": {"users": USERS}}), "needs sftp.hostKeys.existingSecret"),
    (gateway({}), "sftp.users needs a source"),
    (gateway({"users": {"users": USERS, "existingSecret": "sftp-users"}}), "takes one users file"),
    (gateway({"users": {"existingConfigMap": "a", "existingSecret": "b"}}), "takes one users file"),
    (gateway({"users": {"users": USERS}, "terminationGracePeriodSeconds": 20}), "must exceed sftp.preStop.sleepSeconds"),
    (gateway({"users": {"existingSecret": "u"}, "serviceAccount": {"create": False}}), "sftp.serviceAccount.name is required"),
])
def test_templates_refuse_inconsistent_gateway_values(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render(values)


@pytest.mark.parametrize("values, message", [
    ({"sftp": {"enabeld": True}}, "additional properties"),
    (gateway({"users": {"users": [{"name": "acme", "home": "acme/data", "keys": ["ssh-rsa AAAAB3Nza x"]}]}}), "pattern"),
    (gateway({"users": {"users": [{"name": "acme", "home": "acme/data", "password": "hunter2"}]}}), "pattern"),
    (gateway({"users": {"users": [{"name": "acme"}]}}), "home"),
    (gateway({"users": {"existingSecret": "u"}, "service": {"type": "ClusterIP"}}), "service"),
    (gateway({"users": {"existingSecret": "u"}, "service": {"nodePort": 22}}), "nodePort"),
    (gateway({"users": {"existingSecret": "u"}, "port": 22}), "minimum"),
    (gateway({"users": {"existingSecret": "u"}, "settings": {"partSizeMiB": 1}}), "minimum"),
    (gateway({"users": {"existingSecret": "u"}, "serviceAccount": {"roleArn": "sftp-role"}}), "pattern"),
])
def test_schema_refuses_bad_gateway_values(values, message):
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)


def test_command_source_is_read():
    """The flag and environment check above is not vacuous."""
    flags, envs = swift_command()
    assert {"users", "users-secret", "host-key-dir", "port", "http-port", "max-sessions-per-user",
            "idle-timeout", "login-grace", "max-file-size", "part-size-mib", "failed-login-delay", "no-http"} <= flags
    assert {"ESTEIRA_SFTP_USERS", "ESTEIRA_SFTP_USERS_SECRET", "ESTEIRA_SFTP_HOST_KEY_DIR", "ESTEIRA_SFTP_PORT",
            "ESTEIRA_SFTP_HTTP_PORT", "ESTEIRA_BUCKET"} <= envs
