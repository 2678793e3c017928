"""The Kubernetes manifests in deploy/kubernetes say only what the code can do: every variable
is a setting of its service and validates, every probe is a route of its app, ports agree, the
commands are real entry points, and no consumer has more replicas than partitions to share."""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute

from gatehouse import cli
from gatehouse.runtime import ServiceRuntime
from gatehouse.settings import ServiceSettings

MANIFESTS = Path(__file__).parent.parent / "deploy" / "kubernetes"
SERVICES = ("intake", "governance", "reporting")
# Stands for the Secret's value in the cluster.
SECRET_VALUE = "postgresql+asyncpg://gatehouse:secret@postgres:5432/gatehouse"


def load_resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) → resource, from the files the kustomization lists."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for file in kustomization["resources"]:
        for document in yaml.safe_load_all((MANIFESTS / file).read_text()):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in resources, f"{key} defined twice"
            resources[key] = document
    return resources


RESOURCES = load_resources()
CONFIG: dict[str, str] = RESOURCES[("ConfigMap", "gatehouse-config")]["data"]


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.settings")
    found: type[ServiceSettings] = getattr(module, f"{service.capitalize()}Settings")
    return found


def prefix_of(service: str) -> str:
    return str(settings_class(service).model_config["env_prefix"])


def pod_spec(service: str) -> dict[str, Any]:
    spec: dict[str, Any] = RESOURCES[("Deployment", service)]["spec"]["template"]["spec"]
    return spec


def main_container(service: str) -> dict[str, Any]:
    [container] = [c for c in pod_spec(service)["containers"] if c["name"] == service]
    return container


def environment(container: dict[str, Any]) -> dict[str, str]:
    """What the container's process sees: the ConfigMap, then its own entries (Secrets
    stood in for)."""
    seen: dict[str, str] = {}
    for source in container.get("envFrom", []):
        seen.update(RESOURCES[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for entry in container.get("env", []):
        seen[entry["name"]] = entry.get("value", SECRET_VALUE)
    return seen


def settings_of(
    service: str, container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    for name, value in environment(container).items():
        monkeypatch.setenv(name, value)
    return settings_class(service)()


def app_of(service: str, settings: ServiceSettings) -> FastAPI:
    app: FastAPI = importlib.import_module(f"{service}.main").create_app(settings)
    return app


def test_every_config_key_is_a_setting_of_the_service_its_prefix_names() -> None:
    prefixes = {prefix_of(service): service for service in SERVICES}
    for key in CONFIG:
        [service] = [s for prefix, s in prefixes.items() if key.startswith(prefix)]
        field = key.removeprefix(prefix_of(service)).lower()
        assert field in settings_class(service).model_fields, f"{key}: no such setting"


@pytest.mark.parametrize("service", SERVICES)
def test_each_container_sets_only_its_own_settings_and_they_validate(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for container in [*pod_spec(service)["initContainers"], *pod_spec(service)["containers"]]:
        for entry in container.get("env", []):
            name = entry["name"]
            assert name.startswith(prefix_of(service)), f"{name} is not {service}'s"
            assert (
                name.removeprefix(prefix_of(service)).lower()
                in settings_class(service).model_fields
            ), f"{name}: no such setting"
        settings = settings_of(service, container, monkeypatch)
        # The password stays in the Secret; replicas check tokens against one shared issuer.
        database_url = next(e for e in container["env"] if e["name"].endswith("_DATABASE_URL"))
        assert "secretKeyRef" in database_url["valueFrom"]
        assert settings.database_url == SECRET_VALUE
        assert settings.auth_jwks_url, "each replica would have its own development issuer"


@pytest.mark.parametrize("service", SERVICES)
def test_probes_ask_the_app_s_real_endpoints_on_its_port(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = main_container(service)
    settings = settings_of(service, container, monkeypatch)
    routes = {
        route.path for route in app_of(service, settings).routes if isinstance(route, APIRoute)
    }
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": settings.port}
    assert settings.host == "0.0.0.0"

    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    for probe in probes.values():
        assert probe["path"] in routes
        assert ports[probe["port"]] == settings.port
    # Not ready while Kafka or the database is away; but alive, so not restarted for it.
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"

    annotations = RESOURCES[("Deployment", service)]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in routes
    assert int(annotations["prometheus.io/port"]) == settings.port

    [service_port] = RESOURCES[("Service", service)]["spec"]["ports"]
    assert ports[service_port["targetPort"]] == service_port["port"] == settings.port


@pytest.mark.parametrize("service", SERVICES)
def test_commands_are_the_real_entry_points(service: str) -> None:
    [script] = entry_points(group="console_scripts", name="gatehouse")
    assert script.load() is cli.main
    [migrate] = pod_spec(service)["initContainers"]
    assert migrate["command"] == ["gatehouse", "migrate", service]
    assert service in cli.SERVICES

    python, flag, module = main_container(service)["command"]
    assert (python, flag, module) == ("python", "-m", service)
    assert importlib.util.find_spec(f"{service}.__main__") is not None

    images = {
        image["name"]
        for image in yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["images"]
    }
    assert {migrate["image"], main_container(service)["image"]} == {f"gatehouse-{service}"}
    assert f"gatehouse-{service}" in images
    for container in [migrate, main_container(service)]:
        assert set(container["resources"]) == {"requests", "limits"}


def test_every_service_creates_topics_alike() -> None:
    """Whichever service starts first creates a shared topic, so all must agree."""
    for setting in ("TOPIC_PARTITIONS", "TOPIC_REPLICATION_FACTOR"):
        assert len({CONFIG[prefix_of(service) + setting] for service in SERVICES}) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_replicas_stay_available_and_each_consumer_replica_gets_a_partition(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = RESOURCES[("Deployment", service)]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert RESOURCES[("Service", service)]["spec"]["selector"].items() <= labels.items()
    budget = RESOURCES[("PodDisruptionBudget", service)]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()

    replicas = deployment["spec"]["replicas"]
    assert 1 <= budget["minAvailable"] < replicas
    settings = settings_of(service, main_container(service), monkeypatch)
    runtime: ServiceRuntime = app_of(service, settings).state.runtime
    for spec in runtime.consumer_specs:
        # A group shares out the partitions of all its topics; a replica past that idles.
        assert replicas <= settings.topic_partitions * len(spec.topics), spec.name
