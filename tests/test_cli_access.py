"""`dihr keys` and `dihr audit`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app as cli
from graph.access import Role, authenticate
from graph.stores.memory import MemoryStore
from tests.factories import Network

runner = CliRunner()


def test_keys_create_list_revoke_and_audit(tmp_path, monkeypatch):
    data = tmp_path / "data"
    store = MemoryStore(data)
    Network(store)
    store.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))

    created = runner.invoke(
        cli, ["keys", "create", "--role", "erhr", "--territory", "na", "--label", "Animatrice NA"]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("dihr_")
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).stdout)
    assert len(listed) == 1 and listed[0]["role"] == "erhr" and listed[0]["territory"] == "NA"
    assert secret not in runner.invoke(cli, ["keys", "list"]).stdout  # only the hash is kept

    store = MemoryStore(data)
    principal = authenticate(store, secret)
    assert (principal.role, principal.territory) == (Role.ERHR, "NA")
    from graph.access import audit

    audit(store, principal, "situations:read", ["S-42"])
    store.close()

    entries = json.loads(runner.invoke(cli, ["audit", "--situation", "S-42", "--json"]).stdout)
    assert [(e["key_id"], e["operation"], e["situations"]) for e in entries] == [
        (listed[0]["id"], "situations:read", ["S-42"])
    ]
    assert json.loads(runner.invoke(cli, ["audit", "--since", "2999-01-01", "--json"]).stdout) == []

    revoked = runner.invoke(cli, ["keys", "revoke", listed[0]["id"]])
    assert revoked.exit_code == 0 and "révoquée" in revoked.stdout


def test_erhr_key_needs_a_known_territory(tmp_path, monkeypatch):
    data = tmp_path / "data"
    store = MemoryStore(data)
    Network(store)
    store.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    missing = runner.invoke(cli, ["keys", "create", "--role", "erhr"])
    assert missing.exit_code == 1 and "territoire ERHR" in missing.stderr
    unknown = runner.invoke(cli, ["keys", "create", "--role", "erhr", "--territory", "ZZ"])
    assert unknown.exit_code == 1 and "ZZ" in unknown.stderr
    wrong = runner.invoke(cli, ["keys", "create", "--role", "admin"])
    assert wrong.exit_code == 1 and "partner, erhr ou gnchr" in wrong.stderr


def test_the_demo_key_is_kept_between_runs_and_a_replacement_is_said(tmp_path, monkeypatch):
    data = tmp_path / "data"
    store = MemoryStore(data)
    Network(store)
    store.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    first = runner.invoke(cli, ["keys", "demo"])
    secret = first.stdout.strip().splitlines()[-1]
    again = runner.invoke(cli, ["keys", "demo"])
    assert (
        again.exit_code == 0
        and again.stdout.strip().splitlines()[-1] == secret
        and "conservée" in again.stdout
    )
    assert oct((data / "cle-demonstration.txt").stat().st_mode & 0o777) == "0o600"
    key_id = secret.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    replaced = runner.invoke(cli, ["keys", "demo"])
    fresh = replaced.stdout.strip().splitlines()[-1]
    assert fresh != secret and "Clé d'API de démonstration (rôle gnchr" in replaced.stdout
    store = MemoryStore(data)
    try:
        assert authenticate(store, fresh).role is Role.GNCHR
    finally:
        store.close()
