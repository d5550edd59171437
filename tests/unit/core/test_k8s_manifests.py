"""No cluster runs here: validate the manifests against the Kubernetes schemas instead."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.unit.core.test_deployment_files import _commands, _setting_names

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
DOCS = [
    (path.name, doc)
    for path in sorted(K8S.glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc
]


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[f"{n}:{d['kind']}" for n, d in DOCS])
def test_manifest_is_valid_kubernetes(name: str, doc: dict) -> None:  # type: ignore[type-arg]
    kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_workloads_have_probes_resources_secrets_and_real_commands() -> None:
    commands = _commands()
    settings = _setting_names()
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    secret = next(d for _, d in DOCS if d["kind"] == "Secret")
    for key in [*config["data"], *secret["stringData"]]:
        assert key in settings, f"{key} is not a setting"
    kinds = {}
    for _, doc in DOCS:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        kinds[doc["metadata"]["name"]] = container
        assert container["resources"]["requests"]
        refs = {list(ref.values())[0]["name"] for ref in container["envFrom"]}
        assert refs == {"opscopilot-config", "opscopilot-secrets"}
        words = tuple(w for w in container["command"][1:] if not w.startswith("-"))
        words = tuple(w for w in words if not w.replace(".", "").isdigit())
        assert any(words[: len(c)] == c for c in commands), container
    api = kinds["opscopilot-api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    hpas = {
        d["spec"]["scaleTargetRef"]["name"]
        for _, d in DOCS
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert hpas == {"opscopilot-api", "opscopilot-worker"}
