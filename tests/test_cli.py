"""The `dihr` command line as a user runs it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app

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
    assert payload["relationships"]["TYPICALLY_INVOLVES"] > 4000


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
