"""The deployment a public body runs (Dockerfile, deploy/compose.yaml) and the
lock every install uses — checked without pulling an image or a package."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: « {line} » is not pinned"
            pins[_name(name)] = version.strip()
    return pins


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def test_the_lock_pins_every_dependency_and_the_test_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = _lock()
    missing = [r for r in wanted if _name(r) not in pins and "win32" not in r]
    assert missing == []


def test_the_lock_excludes_versions_with_published_advisories():
    pins = _lock()
    # python-multipart: CVE-2024-24762 (< 0.0.7), CVE-2024-53981 (< 0.0.18), denial of service
    assert _version(pins["python-multipart"]) >= (0, 0, 18)
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"python-multipart>=0.0.18"' in project  # nor can a fresh resolution pick them


def test_make_and_the_dockerfile_install_from_the_lock():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-e . -c requirements.lock" in makefile and "-e '.[test]' -c requirements.lock" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY pyproject.toml requirements.lock" in dockerfile
    assert re.search(r"pip install -c requirements\.lock \.", dockerfile)
    assert "HEALTHCHECK" in dockerfile and "USER dihr" in dockerfile


def test_the_compose_file_follows_the_compose_specification():
    """Validated against the Compose specification's JSON schema (as vendored by
    check-jsonschema, a maintained package), then read for what it must hold."""
    compose = ROOT / "deploy" / "compose.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(compose)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    spec = yaml.safe_load(compose.read_text(encoding="utf-8"))
    services = spec["services"]
    assert {"neo4j", "app-1", "app-2", "proxy", "migrate"} <= set(services)
    assert services["neo4j"]["image"].startswith("neo4j:5")
    for name in ("neo4j", "app-1", "app-2"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("app-1", "app-2"):
        env = services[name]["environment"]
        assert env["DIHR_NEO4J_URI"].startswith("neo4j://")
        assert env["DIHR_TRUSTED_PROXIES"] == services["proxy"]["networks"]["front"]["ipv4_address"]
        assert "ports" not in services[name]  # only the proxy is published
    assert services["proxy"]["depends_on"]["app-1"]["condition"] == "service_healthy"
    caddy = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert "app-1:8000 app-2:8000" in caddy and "health_uri /health" in caddy


def test_the_image_holds_what_the_app_reads_at_run_time():
    """Every package the app imports is copied into the image, and nothing of
    the developer's machine (virtualenv, data, node_modules) is sent to the build."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for package in ("graph", "api", "cli", "importers", "maps"):
        assert f"COPY {package} {package}" in dockerfile
    assert "COPY --from=assets /build/node_modules /app/node_modules" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv*", "node_modules", "data"} <= set(ignored)
