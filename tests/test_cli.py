"""The `dihr` command line as a user runs it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_qualify_json():
    result = runner.invoke(app, ["qualify", "DV", "DA", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["combination"] == "DA+DV" and payload["cnrhr"] == ["CRESAM"]


def test_qualify_text_names_the_cnrhr():
    result = runner.invoke(app, ["qualify", "EPI", "DI"])
    assert result.exit_code == 0 and "FAHRES" in result.stdout


def test_unknown_code_prints_one_french_line_and_fails():
    result = runner.invoke(app, ["qualify", "DV", "XX"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Erreur : Code(s) de déficience inconnu(s) : XX")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_stats_json_counts_per_kind(reference_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(reference_dir))
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["nodes"]["Department"] == 101 and payload["relationships"]["COVERS"] == 18
    assert payload["nodes"]["Condition"] >= 4000  # every ORPHA disease of the HPO annotations
    assert (
        payload["relationships"]["TYPICALLY_INVOLVES"] > 2000
    )  # core deficiencies only (frequent phenotypes)


@pytest.mark.slow
def test_init_if_needed_skips_a_loaded_store(reference_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(reference_dir))
    result = runner.invoke(app, ["init", "--if-needed"])
    assert result.exit_code == 0 and "déjà chargé" in result.stdout


def test_unwritable_data_dir_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("DIHR_DATA_DIR", str(blocker / "data"))
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "DIHR_DATA_DIR" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_bad_level_is_one_french_line_with_or_without_json(reference_dir, monkeypatch, json_flag):
    """`dihr coverage DV --level planet --json` used to print two tracebacks."""
    monkeypatch.setenv("DIHR_DATA_DIR", str(reference_dir))
    result = runner.invoke(app, ["coverage", "DV", "--level", "planet", *json_flag])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.stderr.strip()
        == "Erreur : Paramètre « level » invalide : niveau attendu : DEPARTMENT, REGION ou ERHR."
    )
    if json_flag:
        assert json.loads(result.stdout) == {
            "code": "INVALID_INPUT",
            "message": result.stderr.strip()[len("Erreur : ") :],
        }


def test_a_malformed_setting_names_the_variable_and_exits_2(monkeypatch):
    monkeypatch.setenv("DIHR_PORT", "quatre-vingt")
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("Erreur : Configuration invalide — DIHR_PORT")


def test_a_bug_is_masked_not_called_a_configuration_error(monkeypatch):
    """A ValueError raised by a bug is not a "configuration error" (the old CLI
    said so of any ValueError): it is an internal error with a reference."""
    from graph import rare

    def broken(_codes):
        raise ValueError("int() of 'x'")

    monkeypatch.setattr(rare, "qualify", broken)
    result = runner.invoke(app, ["qualify", "DV"])
    assert result.exit_code == 1 and "configuration" not in result.stderr.lower()
    assert result.stderr.startswith("Erreur : Erreur interne. Référence à communiquer au support : ")


@pytest.mark.slow
def test_cli_coverage_is_audited_like_the_api(reference_dir, tmp_path, monkeypatch):
    """The CLI calls the service layer: its coverage is an audited aggregate, as over the API."""
    import shutil

    from graph.access import audit_entries
    from graph.stores.memory import MemoryStore

    data = tmp_path / "data"
    shutil.copytree(reference_dir, data)
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    assert runner.invoke(app, ["coverage", "DV", "TSA", "--level", "region"]).exit_code == 0
    store = MemoryStore(data)
    try:
        entries = [e for e in audit_entries(store) if e.operation == "aggregate:coverage"]
    finally:
        store.close()
    assert entries and entries[-1].key_id == "cli" and dict(entries[-1].params)["combination"] == "DV+TSA"


def test_a_closed_pipe_is_not_an_internal_error(monkeypatch):
    """`dihr match … | head` closes the pipe: the command stops quietly."""
    from graph import rare

    def gone(_codes):
        raise BrokenPipeError

    monkeypatch.setattr(rare, "qualify", gone)
    result = runner.invoke(app, ["qualify", "DV"])
    assert result.exit_code == 1 and "Erreur" not in result.stderr
