"""The optional `esteira reconcile` CronJob: off by default; on, a valid CronJob with the
worker's identity, environment, routes and security, failing its Job when files are missing."""

from __future__ import annotations

import helm_python as helm
import pytest

from conftest import env_of, only, render, validate

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:esteira/mysql-AbCdEf"
IRSA_ROLE = "arn:aws:iam::123456789012:role/esteira-worker"


def test_off_by_default():
    assert not [o for o in render() if o["kind"] == "CronJob"]
    assert not [o for o in render({"reconcile": {"enabled": False}}) if o["kind"] == "CronJob"]


@pytest.mark.parametrize("values", [
    {},
    {"mysql": {"secretArn": SECRET_ARN}, "serviceAccount": {"roleArn": IRSA_ROLE}},
    {"schedule": "0 * * * *", "olderThan": "2h", "extraArgs": ["s3://esteira-landing/acme/data/"]},
], ids=["defaults", "secret-and-irsa", "custom"])
def test_on_renders_a_valid_cronjob_wired_like_the_worker(values):
    reconcile = {"enabled": True, **{k: v for k, v in values.items() if k in ("schedule", "olderThan", "extraArgs")}}
    rest = {k: v for k, v in values.items() if k not in ("schedule", "olderThan", "extraArgs")}
    objects = render({**rest, "reconcile": reconcile})
    for obj in objects:
        validate(obj)  # every object, the CronJob included, against the Kubernetes schemas
    cron, deployment = only(objects, "CronJob"), only(objects, "Deployment")
    assert cron["metadata"]["name"] == "esteira-reconcile"
    assert cron["spec"]["schedule"] == reconcile.get("schedule", "*/30 * * * *")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # exit 1 means "files are missing": not worth a retry
    cspec, wspec = job["template"]["spec"], deployment["spec"]["template"]["spec"]
    (cc,), (wc,) = cspec["containers"], wspec["containers"]
    assert cc["args"] == ["reconcile", f"--older-than={reconcile.get('olderThan', '15m')}", *reconcile.get("extraArgs", [])]
    assert cspec["restartPolicy"] == "Never"
    for field in ("serviceAccountName", "securityContext", "volumes", "automountServiceAccountToken"):
        assert cspec[field] == wspec[field], field
    assert env_of(cc) == env_of(wc) and cc["volumeMounts"] == wc["volumeMounts"]
    assert "ESTEIRA_ROUTES" in env_of(cc)
    assert cc["securityContext"] == wc["securityContext"]
    # The worker's selectors (Service, PDB, spread) must not take the CronJob's pods for workers.
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = job["template"]["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("values, message", [
    ({"reconcile": {"enabled": True, "olderThan": "a while"}}, "pattern"),
    ({"reconcile": {"enabled": True, "schedule": "hourly"}}, "minLength|length"),
    ({"reconcile": {"enabled": True, "olderThen": "15m"}}, "olderThen|additional"),
])
def test_schema_refuses_bad_values(values, message):
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)
