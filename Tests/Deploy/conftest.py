"""Shared helpers for the deploy checks: paths, the real Helm engine, the validators.

Everything here runs offline: Helm's Go SDK (helm-python-sdk) renders the chart,
kubernetes-validate holds the Kubernetes OpenAPI schemas, and KEDA's and the Prometheus
Operator's CRDs come from ../shared/testdata/{keda-crds,prometheus-operator-crds}
(or $ESTEIRA_TESTDATA/...).
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "esteira"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
TEMPLATE = ROOT / "infra" / "esteira.yaml"
VENV_BIN = Path(sys.executable).parent
TESTDATA = Path(os.environ.get("ESTEIRA_TESTDATA") or ROOT.parent / "shared" / "testdata")
KEDA_CRDS = TESTDATA / "keda-crds"
PROMETHEUS_CRDS = TESTDATA / "prometheus-operator-crds"

RELEASE = "esteira"
NAMESPACE = "esteira"

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest
# schemas kubernetes-validate ships: every object must be valid on both.
KUBE_VERSIONS = ("1.28", kubernetes_validate.utils.latest_version())


def tool(name: str) -> str:
    """A console script installed in the test venv (hadolint, cfn-lint)."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {VENV_BIN}: run `make setup`")
    return str(path)


# --- Rendering ---------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _chart() -> helm.Chart:
    # Loaded once per run; a Chart is an immutable handle into the Go library.
    return helm.Chart.load(CHART)


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Renders the chart as `helm install` would (values checked against
    values.schema.json first) and returns every Kubernetes object, in template order."""
    manifests = _chart().render(values or {}, name=RELEASE, namespace=NAMESPACE,
                                revision=1, is_install=True)
    objects = []
    for path in sorted(manifests):
        if not path.endswith(".yaml"):
            continue  # NOTES.txt
        objects.extend(doc for doc in yaml.safe_load_all(manifests[path]) if doc)
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    manifests = _chart().render(values or {}, name=RELEASE, namespace=NAMESPACE, revision=1, is_install=True)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or the valueFrom dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# --- Validation ----------------------------------------------------------------------

def validate_kubernetes(obj: dict[str, Any]) -> None:
    """Strict validation (unknown fields are errors) against each supported version."""
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} invalid on Kubernetes "
                                 f"{version} at {path}: {e.message}") from None


def _strict(schema: Any) -> Any:
    """The API server prunes fields a CRD schema does not declare, so a misspelt field
    would vanish silently at apply time. Refuse undeclared fields instead."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.lru_cache(maxsize=None)
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator, from KEDA's and the Prometheus Operator's CRDs."""
    validators = {}
    for directory in (KEDA_CRDS, PROMETHEUS_CRDS):
        if not directory.is_dir():
            pytest.fail(f"CRDs not found at {directory} (set ESTEIRA_TESTDATA)")
        for path in sorted(directory.glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def validate_crd(obj: dict[str, Any]) -> None:
    validator = crd_validators().get((obj["apiVersion"], obj["kind"]))
    assert validator is not None, f"no CRD schema for {obj['apiVersion']} {obj['kind']}"
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, "\n".join(
        f"{obj['kind']}/{obj['metadata']['name']} at {'.'.join(map(str, e.path))}: {e.message}" for e in errors)


# API groups whose kinds are custom resources, validated against their CRDs.
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


def validate(obj: dict[str, Any]) -> None:
    """Validates one rendered object against the schema of its kind."""
    if obj["apiVersion"].startswith(CRD_GROUPS):
        validate_crd(obj)
    else:
        validate_kubernetes(obj)
