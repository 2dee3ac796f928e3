"""Imports that cannot damage the register, and a store that can be backed
up, checked and restored — through the CLI, as an administrator runs it, on
the real reference geography with a real-layout FINESS file."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from graph import journal
from graph.integrity import check_graph, dump, load_dump
from graph.model import NodeKind
from graph.snapshot import SNAPSHOT_FILENAME
from graph.stores.memory import DB_FILENAME, MemoryStore
from tests.importers.test_finess import geoloc, structure

pytestmark = pytest.mark.slow
K = NodeKind
runner = CliRunner()


def lines_for(store: MemoryStore, count: int) -> tuple[list[str], list[str]]:
    """``count`` structureet lines in real Vienne communes (category 183) and their geolocations."""
    communes = sorted(
        (c for c in store.nodes(K.COMMUNE) if c.props["department"] == "86"), key=lambda c: c.key
    )
    structures, geos = [], []
    for i in range(count):
        c = communes[i % len(communes)]
        finess = f"86{i:07d}"
        structures.append(structure(finess, "86", c.key[2:], name=f"IME NUMERO {i}"))
        geos.append(geoloc(finess, float(c.props["lat"]) + 0.001, float(c.props["lon"])))
    return structures, geos


def write_file(
    folder: Path, structures: list[str], geos: list[str], *, name: str, encoding: str = "utf-8"
) -> Path:
    path = folder / name
    path.write_bytes(("\n".join(["finess;etalab;94;2021-01-08", *structures, *geos]) + "\n").encode(encoding))
    return path


@pytest.fixture
def registry(reference_dir, tmp_path, monkeypatch):
    """A copy of the reference data with 150 real-layout establishments imported through the CLI."""
    data = tmp_path / "data"
    shutil.copytree(reference_dir, data)
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    store = MemoryStore(data)
    structures, geos = lines_for(store, 150)
    store.close()
    full = write_file(tmp_path, structures, geos, name="etalab-cs1100507-stock-20210108-0427.csv")
    run = runner.invoke(cli, ["import", "finess", str(full)])
    assert run.exit_code == 0, run.output
    return data, structures, geos, full


def snapshot(data: Path) -> dict[str, dict]:
    store = MemoryStore(data)
    try:
        return {n.key: dict(n.props) for n in store.nodes(K.ESTABLISHMENT)}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        ("header only", "aucune ligne « structureet »"),
        ("no geolocation section", "section « geolocalisation » absente"),
        ("cut inside the geolocation section", "section « geolocalisation » incomplète"),
        ("cut mid-line", "ligne tronquée"),
        ("truncated gzip", "archive .gz tronquée"),
    ],
)
def test_a_cut_file_is_refused_and_changes_nothing(registry, tmp_path, cut, message):
    data, structures, geos, full = registry
    before = snapshot(data)
    name = "etalab-cs1100507-stock-20210301-0400.csv"
    if cut == "header only":
        path = write_file(tmp_path, [], [], name=name)
    elif cut == "no geolocation section":
        path = write_file(tmp_path, structures, [], name=name)
    elif cut == "cut inside the geolocation section":
        path = write_file(tmp_path, structures, geos[:40], name=name)
    elif cut == "cut mid-line":
        text = write_file(tmp_path, structures, geos, name=name).read_text(encoding="utf-8")
        path = tmp_path / name
        path.write_text(text[: len(text) // 3], encoding="utf-8")
    else:
        packed = gzip.compress(full.read_bytes())
        path = tmp_path / (name + ".gz")
        path.write_bytes(packed[: len(packed) // 2])
    run = runner.invoke(cli, ["import", "finess", str(path)])
    assert run.exit_code == 1, run.output
    assert (
        message in run.stderr and path.name in run.stderr and "Aucune donnée n'a été importée" in run.stderr
    )
    assert snapshot(data) == before  # nothing closed, nothing moved
    store = MemoryStore(data)
    try:
        last = journal.runs(store)[0]
        assert (last.status, last.file) == (journal.REFUSED, path.name) and message in (last.message or "")
    finally:
        store.close()


def test_a_re_encoded_copy_changes_nothing(registry, tmp_path):
    data, structures, geos, _full = registry
    before = snapshot(data)
    latin = write_file(
        tmp_path, structures, geos, name="etalab-cs1100507-stock-20210108-0428.csv", encoding="iso-8859-1"
    )
    run = runner.invoke(cli, ["import", "finess", str(latin)])
    assert (
        run.exit_code == 0
        and "encodage iso-8859-1" in run.stdout
        and "Créés : 0 ; mis à jour : 0" in run.stdout
    )
    assert snapshot(data) == before


def test_closing_more_than_two_percent_asks_first(registry, tmp_path):
    data, structures, geos, _full = registry
    smaller = write_file(
        tmp_path, structures[:120], geos[:120], name="etalab-cs1100507-stock-20210301-0400.csv"
    )
    refused = runner.invoke(cli, ["import", "finess", str(smaller)])
    assert refused.exit_code == 1 and "30 établissements ouverts sur 150" in refused.stderr
    assert "--accept-closures 30" in refused.stderr
    assert not any(p.get("closed") for p in snapshot(data).values())
    wrong = runner.invoke(cli, ["import", "finess", str(smaller), "--accept-closures", "29"])
    assert wrong.exit_code == 1  # the exact number, or nothing
    accepted = runner.invoke(cli, ["import", "finess", str(smaller), "--accept-closures", "30"])
    assert accepted.exit_code == 0 and "fermés : 30" in accepted.stdout
    assert sum(1 for p in snapshot(data).values() if p.get("closed")) == 30


def test_a_stored_point_is_never_replaced_by_a_centroid_and_an_impossible_point_is_centred(
    registry, tmp_path
):
    data, structures, geos, _full = registry
    before = snapshot(data)
    first, second = sorted(before)[:2]
    far = geoloc(second, 43.3, 5.4)  # Marseille, for an establishment of the Vienne
    newer = write_file(
        tmp_path,
        structures,
        [g for g in geos if first not in g and second not in g] + [far],
        name="etalab-cs1100507-stock-20210301-0400.csv",
    )
    run = runner.invoke(cli, ["import", "finess", str(newer)])
    assert run.exit_code == 0, run.output
    after = snapshot(data)
    kept = after[first]
    assert (kept["lat"], kept["lon"], kept["location_source"]) == (
        before[first]["lat"],
        before[first]["lon"],
        "finess",
    )
    centred = after[second]
    assert centred["location_source"] == "centroide_commune" and abs(centred["raw_lat"] - 43.3) < 0.01
    store = MemoryStore(data)
    try:
        commune = store.get_node(K.COMMUNE, centred["commune"]).props
        assert (centred["lat"], centred["lon"]) == (commune["lat"], commune["lon"])
    finally:
        store.close()
    report = (data / "rapports" / f"{newer.name}.rapport.csv").read_text(encoding="utf-8")
    assert (
        f"{second};signalement;point à plus de 20 km" in report and "placé au centre de la commune" in report
    )


def test_an_import_killed_midway_shows_as_interrupted_and_the_store_stays_consistent(registry, tmp_path):
    data, _s, _g, _full = registry
    store = MemoryStore(data)
    structures, geos = lines_for(store, 3000)
    store.close()
    big = write_file(tmp_path, structures, geos, name="etalab-cs1100507-stock-20210301-0400.csv")
    env = {**os.environ, "DIHR_DATA_DIR": str(data)}
    # Deterministic "midway": the CLI runs as an administrator runs it, but its store stops
    # after writing the first batch of establishments and says so; the test kills it there
    # (a timed kill raced a fast import on a loaded machine).
    stall = (
        "import sys, time\n"
        "from graph.stores.durable import DurableStore\n"
        "original = DurableStore.upsert\n"
        "def upsert(self, nodes=(), edges=(), **options):\n"
        "    nodes = list(nodes)\n"
        "    result = original(self, nodes, edges, **options)\n"
        "    if any(n.kind.value == 'Establishment' for n in nodes):\n"
        "        print('MIDWAY', flush=True)\n"
        "        time.sleep(600)\n"
        "    return result\n"
        "DurableStore.upsert = upsert\n"
        "from cli.main import app\n"
        "sys.argv = ['dihr', *sys.argv[1:]]\n"
        "app()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", stall, "import", "finess", str(big), "--accept-closures", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the first batch is written (or the process ends)
        assert line.strip() == "MIDWAY", f"the import ended before writing: {line!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    listed = runner.invoke(cli, ["imports"])
    assert listed.exit_code == 0 and "interrompu" in listed.stdout and big.name in listed.stdout
    check = runner.invoke(cli, ["check"])
    assert check.exit_code == 0, check.output
    assert "Registre cohérent" in check.stdout and "interrompu" in check.stdout


def test_backup_corruption_check_and_restore(registry, tmp_path):
    data, _s, _g, _full = registry
    question = ["match", "DI", "--commune", "86194", "--age", "10", "--json"]
    before = runner.invoke(cli, question)
    assert before.exit_code == 0, before.output
    assert (data / SNAPSHOT_FILENAME).is_file()  # the workers' column snapshot, written by that search
    backup = tmp_path / "registre.sqlite"
    assert runner.invoke(cli, ["backup", str(backup)]).exit_code == 0
    live = data / DB_FILENAME
    raw = bytearray(live.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16384] = os.urandom(16384)
    live.write_bytes(bytes(raw))
    for suffix in ("-wal", "-shm"):
        (data / (DB_FILENAME + suffix)).unlink(missing_ok=True)
    broken = runner.invoke(cli, ["check"])
    assert broken.exit_code == 1 and "est abîmée" in broken.stderr and "dihr restore" in broken.stderr
    restored = runner.invoke(cli, ["restore", str(backup)])
    assert restored.exit_code == 0, restored.output
    assert not (data / SNAPSHOT_FILENAME).exists()  # it described the replaced database
    assert runner.invoke(cli, ["check"]).exit_code == 0
    after = runner.invoke(cli, question)
    assert json.loads(after.stdout) == json.loads(before.stdout)


def test_restore_refuses_while_a_server_holds_the_store(registry, tmp_path):
    data, _s, _g, _full = registry
    backup = tmp_path / "registre.sqlite"
    assert runner.invoke(cli, ["backup", str(backup)]).exit_code == 0
    (data / "serve.pid").write_text(str(os.getpid()))  # this live process stands for the server
    refused = runner.invoke(cli, ["restore", str(backup)])
    assert refused.exit_code == 1 and "arrêtez-le avant de restaurer" in refused.stderr


def test_portable_dump_restores_into_either_backend(store, tmp_path):
    """Dump a small territory from the embedded store, load it into the contract store (every backend)."""
    from tests.factories import build_territory

    source = MemoryStore(tmp_path / "source")
    try:
        build_territory(source)
        path = tmp_path / "registre.jsonl"
        with path.open("w", encoding="utf-8") as out:
            written = dump(source, out)
        assert load_dump(store, path) == written
        assert store.count_nodes() == source.count_nodes() and store.count_edges() == source.count_edges()
        assert check_graph(store).ok, check_graph(store).problems
        damaged = tmp_path / "abime.jsonl"
        damaged.write_text(path.read_text(encoding="utf-8")[:3000] + "{pas du json\n", encoding="utf-8")
        from graph.integrity import DumpError

        before = store.count_nodes()
        with pytest.raises(DumpError, match="ligne .* illisible"):
            load_dump(store, damaged)
        assert store.count_nodes() == before
    finally:
        source.close()


def test_a_directory_cut_mid_line_is_refused_and_journalled(registry, tmp_path):
    data, _s, _g, _full = registry
    path = tmp_path / "annuaire.csv"
    path.write_text(
        "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;age_max\n"
        "professionnel;ORTHO-1;orthophoniste;;;86194;TSA:3;;\n"
        "professionnel;LOCO-2;instructeur de locomotion;;;86",
        encoding="utf-8",
    )
    run = runner.invoke(cli, ["import", "directory", str(path)])
    assert run.exit_code == 1 and "annuaire.csv, ligne 3 : dernière ligne coupée" in run.stderr
    store = MemoryStore(data)
    try:
        assert store.get_node(K.PROFESSIONAL, "ORTHO-1") is None  # nothing of the file was written
        assert journal.runs(store)[0].status == journal.REFUSED
    finally:
        store.close()
    path.write_text(path.read_text(encoding="utf-8") + "194;DV:3;;\n", encoding="utf-8")
    assert runner.invoke(cli, ["import", "directory", str(path)]).exit_code == 0
    stats = json.loads(runner.invoke(cli, ["stats", "--json"]).stdout)
    assert stats["last_imports"]["annuaire"]["status"] == "complet"
    assert stats["establishments"]["ouverts"] == 150
    listed = runner.invoke(cli, ["imports", "--json"])
    sources = [(r["source"], r["status"]) for r in json.loads(listed.stdout)]
    assert (
        sources[:2] == [("annuaire", "complet"), ("annuaire", "refusé")] and ("finess", "complet") in sources
    )


def test_the_coverage_page_shows_the_last_import_of_each_source(registry):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from graph.settings import Settings
    from tests.conftest import bearer

    data, _s, _g, full = registry
    store = MemoryStore(data)
    try:
        with TestClient(create_app(Settings(data_dir=data), store=store), headers=bearer(store)) as client:
            page = client.get("/couverture")
    finally:
        store.close()
    assert page.status_code == 200
    assert f"FINESS établissements : « {full.name} », extraction du 08/01/2021 — import complet" in page.text


def test_imports_started_in_the_same_second_are_listed_newest_first(tmp_path):
    """The journal's « last import » is the last one, even when two start within a second."""
    store = MemoryStore(tmp_path / "data")
    try:
        keys = []
        for name in ("premier.csv", "second.csv", "troisieme.csv"):
            key = journal.begin(store, "finess", tmp_path / name, sha256="0" * 64)
            journal.finish(store, key, journal.REFUSED, message="coupé")
            keys.append(key)
        assert [r.file for r in journal.runs(store)] == ["troisieme.csv", "second.csv", "premier.csv"]
        assert [r.key for r in journal.runs(store)] == keys[::-1]
    finally:
        store.close()


def test_restore_says_which_api_keys_differ_and_checks_the_backup_s_audit(registry, tmp_path):
    """A backup with a planted GNCHR key: the restore names it, and checks the backup's journal."""
    from graph.access import SYSTEM, audit, create_key

    data, _s, _g, _full = registry
    live = MemoryStore(data)
    audit(live, SYSTEM, "situations:read", ["SIT-1"])
    live.close()
    backup = tmp_path / "registre.sqlite"
    assert runner.invoke(cli, ["backup", str(backup)]).exit_code == 0
    planted_dir = tmp_path / "plante"
    planted_dir.mkdir()
    shutil.copyfile(backup, planted_dir / DB_FILENAME)
    planted = MemoryStore(planted_dir)
    info, _secret = create_key(planted, "gnchr", label="porte dérobée")
    planted.close()
    restored = runner.invoke(cli, ["restore", str(planted_dir / DB_FILENAME)])
    assert restored.exit_code == 0, restored.output
    assert (
        f"clé d'API {info.key_id} (gnchr) présente dans la sauvegarde mais pas dans le registre en place"
        in restored.output
    )
    assert "Journal d'audit de la sauvegarde intact" in restored.output
