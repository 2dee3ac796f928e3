"""``make bench``: dihr-graph at national scale, measured against the naive way.

Builds a seeded SYNTHETIC national network on the real geography (every
commune; 15,000 establishments, 40,000 professionals, 10,000 situations by
default), then measures, as median and p95 over repeated runs: loading and
reopening the embedded store, resident memory, findResources in-process and
over HTTP (sequential, and 8 concurrent clients), coverage of one combination,
the full gap matrix, a national-size FINESS import and map generation; then
the same network copied into a Bolt server (ArcadeDB, or DIHR_NEO4J_URI):
copy, read-model build, findResources and coverage there, with answers
identical to the embedded store's. The
same findResources answers and coverage distances are computed the naive way
(benchmarks/naive.py) in the same run: the benchmark fails if they differ.

Writes ``benchmarks/results/bench-<date>.md`` and ``.json`` and prints the table.
``--smoke`` runs a small version (used by ``make test``).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import random
import runpy
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.versus import coverage_versus_peers, find_versus_peers, pct
from graph.access import SYSTEM, create_key
from graph.coverage import coverage, gaps
from graph.matching import SituationQuery, find_resources
from graph.model import NodeKind
from graph.settings import Settings
from graph.snapshot import SNAPSHOT_FILENAME
from graph.store import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore
from importers.demo import SITUATION_SHAPES, generate_demo

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "findResources in-process p95 (ms)": ("<=", 5.0),
    "findResources / best peer, median (×)": ("<=", 1.0),
    "findResources / best peer, p95 (×)": ("<=", 1.0),
    "findResources / floor, median (×)": ("<=", 3.0),
    "findResources / cKDTree per needs peer, median (×)": ("<=", 1.0),
    "findResources / cKDTree per needs peer, median (×) at 4×": ("<=", 1.3),
    "findResources varied mix median (ms)": ("<=", 1.5),
    "findResources real register p95 (ms)": ("<=", 5.0),
    "coverage / cKDTree peer, median (×)": ("<=", 1.3),
    "coverage / cKDTree peer, median (×) at 4×": ("<=", 1.2),
    "findResources HTTP / minimal route, median (×)": ("<=", 1.7),
    "findResources HTTP 8 clients vs baseline (×)": (">=", 3.0),
    "findResources HTTP 8 clients / minimal route (×)": (">=", 0.6),
    "findResources HTTP 8 clients p99 (ms)": ("<=", 50.0),
    "first findResources after an expertise edit (ms)": ("<=", 20.0),
    "first findResources after an expertise edit (ms) at 4×": ("<=", 50.0),
    "first findResources after a 100-row import (ms)": ("<=", 50.0),
    "gap matrix median (s)": ("<=", 2.0),
    "worker reopen to first answer, median (s)": ("<=", 1.0),
    "resident memory per server worker (MB)": ("<=", 250.0),
    "resident memory of a fresh worker (MB) at 4×": ("<=", 350.0),
    "FINESS national import (s)": ("<=", 60.0),
    "Bolt: an edit seen by a second app server's answers (s)": ("<=", 1.5),
    "Bolt: slowest findResources of the second server while the edit reaches it (ms)": ("<=", 50.0),
}


#: "Today's throughput" of issue #21 (≥ 3× of it): the code it measured, the last commit
#: before its work, served from its own files (``git archive``) in the same run.
BASELINE_COMMIT = "34be551"


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


_RSS_SCRIPT = """
import sys
import api.app  # what a server worker imports
from graph.matching import SituationQuery, find_resources
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore
store = MemoryStore(sys.argv[1]) if sys.argv[2] == "graph" else SQLiteStore(sys.argv[1])
find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="75056"))  # its indexes loaded or built
print([l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1])
"""


def fresh_process_rss_mb(data: Path, mode: str = "worker") -> float:
    """Resident memory of a new process that imported the web application,
    opened the store as a server worker does (``mode`` "worker": no graph in
    memory, the column snapshot; "graph": the whole graph, a single process)
    and answered one query."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(data), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    return int(out.split()[-1]) / 1024


def children_rss_mb(pid: int) -> list[float]:
    """Resident memory of each child process of ``pid`` (a server's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            if "multiprocessing.resource_tracker" in Path(f"/proc/{child}/cmdline").read_text(
                errors="replace"
            ):
                continue
            found += [
                int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")
            ]
    return found


def worker_reopen(data: Path, q: SituationQuery, repeat: int) -> list[float]:
    """Seconds from opening the store as a server worker does to its first answer
    (the column snapshot loaded and brought up to date)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        store = SQLiteStore(data)
        find_resources(store, q)
        times.append(time.perf_counter() - start)
        store.close()
    return times


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def queries(store: MemoryStore, n: int, seed: int) -> list[SituationQuery]:
    rng = random.Random(seed)
    communes = [c for c in store.nodes(NodeKind.COMMUNE) if int(c.props.get("population", 0)) > 0]
    weights = [int(c.props["population"]) for c in communes]
    out = []
    for _ in range(n):
        codes, skills, _condition = rng.choice(SITUATION_SHAPES)
        commune = rng.choices(communes, weights)[0]
        out.append(
            SituationQuery(
                deficiencies=codes,
                skills=skills,
                age=rng.randint(3, 60),
                commune=commune.key,
                radius_km=100,
                limit=20,
            )
        )
    return out


#: The varied mix: any 1-3 deficiencies, 0-2 skills (the situations an animator
#: meets are not the demo's twelve shapes).
_VARIED_DEFICIENCIES = (
    "DV",
    "DA",
    "DYSPH",
    "DI",
    "TSA",
    "DM",
    "POLY",
    "CEREB",
    "DPSY",
    "COMPORT",
    "EPI",
    "MITO",
    "METAB",
    "NEURO",
)
_VARIED_SKILLS = (
    "CAA",
    "LSF",
    "LSF_TACTILE",
    "BRAILLE",
    "PECS",
    "EYE_GAZE",
    "BEHAVIOUR",
    "TECH_AIDS",
    "RESPITE",
    "TRANSITION",
)


def varied_queries(store: MemoryStore, n: int, seed: int) -> list[SituationQuery]:
    """Queries over many sets of needs (about two in three distinct), ages 3-70,
    communes weighted by population, radii 30-150 km."""
    rng = random.Random(seed)
    communes = [c for c in store.nodes(NodeKind.COMMUNE) if int(c.props.get("population", 0)) > 0]
    weights = [int(c.props["population"]) for c in communes]
    out = []
    for _ in range(n):
        codes = rng.sample(_VARIED_DEFICIENCIES, rng.choice((1, 2, 2, 2, 3)))
        skills = rng.sample(_VARIED_SKILLS, rng.choice((0, 0, 1, 2)))
        commune = rng.choices(communes, weights)[0]
        out.append(
            SituationQuery(
                deficiencies=codes,
                skills=skills,
                age=rng.randint(3, 70),
                commune=commune.key,
                radius_km=rng.choice((30, 60, 100, 150)),
                limit=20,
            )
        )
    return out


def national_finess(store: MemoryStore, path: Path, n: int, seed: int) -> None:
    """A national-size extraction in the official layout (synthetic establishments)."""
    from pyproj import Transformer

    rng = random.Random(seed)
    communes = [c for c in store.nodes(NodeKind.COMMUNE) if not c.key.startswith("97")]
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    categories = ["183", "182", "255", "437", "355", "500", "620", "246"]
    lines = ["finess;etalab;94;2026-01-08"]
    geo = []
    for i in range(n):
        c = rng.choice(communes)
        dep, com = c.key[:2], c.key[2:]
        number = f"{dep}{i:07d}"
        lat, lon = float(c.props["lat"]) + rng.gauss(0, 0.01), float(c.props["lon"]) + rng.gauss(0, 0.01)
        lines.append(
            ";".join(
                [
                    "structureet",
                    number,
                    number,
                    f"ETABLISSEMENT SYNTHETIQUE {i}",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "1 RUE",
                    "",
                    "",
                    com,
                    dep,
                    "",
                    f"{c.props.get('postcodes', ['00000'])[0] if c.props.get('postcodes') else '00000'} X",
                    "",
                    "",
                    rng.choice(categories),
                    "cat",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "2000-01-01",
                    "2000-01-01",
                    "2025-01-01",
                    "",
                ]
            )
        )
        x, y = to_l93.transform(lon, lat)
        geo.append(
            f"geolocalisation;{number};{x:.1f};{y:.1f};1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;2025-01-01"
        )
    path.write_text("\n".join(lines + geo) + "\n", encoding="utf-8")


def serve(
    data_dir: Path, workers: int, minimal: bool = False, root: Path = ROOT
) -> tuple[subprocess.Popen[str], str]:
    """The served API (``dihr serve``), or with ``minimal`` the HTTP peer
    (``benchmarks/minimal_app.py``, served by the same worker supervisor), with ``workers`` processes;
    ``root``: the code served (another version's files: the baseline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DIHR_DATA_DIR": str(data_dir),
        "DIHR_PORT": str(port),
        "DIHR_WORKERS": str(workers),
        "DIHR_RATE_LIMIT_PER_MINUTE": "10000000",
        "PYTHONPATH": str(root),
    }
    env.pop("DIHR_NEO4J_URI", None)  # these HTTP figures are the embedded store's (the Bolt ones come after)
    # The peer is served as `dihr serve` serves the API (api/workers.py: one
    # listening socket per worker, SO_REUSEPORT): under uvicorn's own supervisor
    # (one shared socket) a burst of keep-alive connections may all land on one
    # worker, and the peer's throughput halved in some runs and not others.
    command = (
        [
            sys.executable,
            "-c",
            "from api.workers import serve_workers; "
            f"serve_workers('127.0.0.1', {port}, {workers}, app='benchmarks.minimal_app:app')",
        ]
        if minimal
        else [sys.executable, "-m", "cli", "serve"]
    )
    proc = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not start")


class Client:
    """A plain keep-alive HTTP/1.1 client (the standard library's): little
    overhead of its own, so the figures are the server's."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        self.headers = {**headers, "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.connection.request("POST", path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


_WRK_SCRIPT = """
local bodies = {%s}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/graphql", headers, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    local bad = t:get("bad")
    if bad then io.write("FIRST-FAILED " .. bad .. "\\n") end
  end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%f %%f %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
           latency:percentile(95), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout,
           e.connect, e.read, e.write, e.status, e.timeout))
end
threads = {}
setup = function(thread) table.insert(threads, thread) end
"""

#: With ``diagnose`` (the warm-up loads): the first answer with an HTTP error
#: status is kept and named (wrk then hands every answer to Lua, which costs it
#: CPU: never during a measured load).
_WRK_DIAGNOSE = """
bad = nil
response = function(status, headers, body)
  if status > 399 and bad == nil then bad = status .. " " .. string.sub(body or "", 1, 300) end
end
"""


def concurrent_load(
    url: str, secret: str, bodies: list[bytes], clients: int, seconds: float, diagnose: bool = False
) -> tuple[float, float, float, str]:
    """(requests/s, p95 ms, p99 ms, tool) with ``clients`` concurrent connections:
    wrk when installed (a load generator in C, `make bench` installs it), else threads."""
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(_WRK_SCRIPT % (", ".join(json.dumps(b.decode()) for b in bodies), secret))
            if diagnose:
                script.write(_WRK_DIAGNOSE)
        try:
            out = subprocess.run(
                [
                    wrk,
                    "-t1",
                    f"-c{clients}",
                    f"-d{seconds:g}s",
                    "--timeout",
                    "30s",
                    "-s",
                    script.name,
                    f"{url}/graphql",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            os.unlink(script.name)
        requests, duration_us, p95_us, p99_us, errors, *kinds = out.split("RESULT", 1)[1].split()
        if int(errors):
            named = ", ".join(
                f"{n} {kind}"
                for kind, n in zip(("connect", "read", "write", "status", "timeout"), kinds, strict=True)
                if n != "0"
            )
            first = [line for line in out.splitlines() if line.startswith("FIRST-FAILED ")]
            raise AssertionError(
                f"wrk: {errors} failed requests of {requests} to {url} ({named})"
                + (f"; the first: {first[0].removeprefix('FIRST-FAILED ')}" if first else "")
            )
        return int(requests) / (int(duration_us) / 1e6), float(p95_us) / 1000, float(p99_us) / 1000, "wrk"
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(offset: int) -> None:
        client = Client(url, {"Authorization": f"Bearer {secret}"})
        i = offset
        while time.monotonic() < stop:
            start = time.perf_counter()
            status, _ = client.post("/graphql", bodies[i % len(bodies)])
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    failures.append(status)
            i += clients
        client.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise AssertionError(f"{len(failures)} failed requests (HTTP {sorted(set(failures))})")
    return (
        len(latencies) / (time.perf_counter() - start),
        pct(latencies, 95),
        pct(latencies, 99),
        "Python threads",
    )


#: The real national FINESS file beside the project (shared/, never copied into it).
REAL_FINESS = sorted((ROOT.parent / "shared" / "data" / "finess").glob("etalab-cs1100507-stock-*.csv*"))

#: The real-register searches: what an animator asks first (DOMAIN.md §2, §4).
REAL_NEEDS = (("DA",), ("DV",), ("DA", "DV"), ("DI", "EPI"), ("TSA",))


def real_register(
    reference: Path,
    finess: Path,
    n: int,
    repeat: int,
    seed: int,
    figures: dict[str, float],
    checks: list[str],
) -> None:
    """The real national FINESS file alone (no demo, no équipements) in a fresh
    store: import time, then findResources for the real-register needs in
    rural and urban communes (seeded), in-process."""
    from importers.finess import import_finess

    work = Path(tempfile.mkdtemp(prefix="dihr-bench-real-"))
    try:
        data = work / "data"
        shutil.copytree(reference, data)
        store = MemoryStore(data)
        start = time.perf_counter()
        report = import_finess(store, finess)
        figures["real FINESS import, disability categories (s)"] = time.perf_counter() - start
        communes = [c for c in store.nodes(NodeKind.COMMUNE) if c.props.get("population")]
        rural = [c for c in communes if int(c.props["population"]) < 2000]
        urban = [c for c in communes if int(c.props["population"]) >= 50000]
        rng = random.Random(seed)
        places = rng.sample(rural, n // 2) + rng.sample(urban, n - n // 2)
        qs = [
            SituationQuery(deficiencies=needs, commune=c.key, age=rng.choice((8, 15, 30)), radius_km=100)
            for c in places
            for needs in REAL_NEEDS
        ]
        for q in qs:  # warm the index
            find_resources(store, q)
        times = [t * 1000 for _ in range(repeat) for t in timed_each(store, qs)]
        figures["findResources real register median (ms)"] = statistics.median(times)
        figures["findResources real register p95 (ms)"] = pct(times, 95)
        answered = {needs: 0 for needs in REAL_NEEDS}
        with_contact = 0
        for q in qs:
            result = find_resources(store, q)
            local = [m for m in result.matches if m.level.value == "LOCAL" and m.within_radius]
            answered[tuple(q.deficiencies)] += any(
                m.basis.value in ("COMBINATION", "ALL_DEFICIENCIES", "SEPARATELY") for m in local
            )
            with_contact += all(m.contact is not None and m.contact.phone for m in local[:3])
        checks.append(
            f"Real register ({finess.name}, no demo): {report.created} establishments; "
            + ", ".join(f"{'+'.join(k)} {v}/{len(places)}" for k, v in answered.items())
            + f" searches with a local resource competent for the whole combination within 100 km ({n // 2} rural, {n - n // 2} urban "
            f"communes); {with_contact}/{len(qs)} answers with a phone for every one of their first three"
        )
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bolt_store(
    data: Path,
    qs: list[SituationQuery],
    embedded: list[Any],
    repeat: int,
    figures: dict[str, float],
    checks: list[str],
) -> None:
    """The national network copied into a Bolt server (``DIHR_NEO4J_URI``, else an
    ArcadeDB started here): copy, read-model build, findResources and coverage,
    and the answers compared with the embedded store's (it fails if they differ)."""
    import uuid

    from graph.readmodel import build_competence
    from graph.stores.neo4j import Neo4jStore
    from graph.transfer import copy_store

    server = None
    if os.environ.get("DIHR_NEO4J_URI"):
        settings, where = Settings(), "the Bolt server at DIHR_NEO4J_URI"
    else:
        from tools import arcadedb

        if not arcadedb.available():
            checks.append("Bolt store: no DIHR_NEO4J_URI and no ArcadeDB (test extras): skipped")
            return
        server = arcadedb.start(Path(tempfile.mkdtemp(prefix="dihr-bench-arcadedb-")))
        settings = Settings(
            neo4j_uri=server.uri,
            neo4j_user=server.user,
            neo4j_password=server.password,
            neo4j_database=server.database,
        )
        where = "ArcadeDB (arcadedb-embedded, 1 GiB heap) on this machine"
    source = MemoryStore(data)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    target = Neo4jStore.from_settings(settings, namespace=namespace)
    try:
        start = time.perf_counter()
        report = copy_store(source, target, batch_size=settings.neo4j_batch_size)
        figures["Bolt: copy of the national store (s)"] = time.perf_counter() - start
        if not report.identical_counts:
            raise AssertionError("the Bolt store holds fewer elements than the embedded one")
        embedded_build = timed(lambda: build_competence(source), max(1, repeat // 5))
        figures["read model build, embedded (s)"] = statistics.median(embedded_build)
        bolt_build = timed(lambda: build_competence(target), max(1, repeat // 5))
        figures["Bolt: read model build (s)"] = statistics.median(bolt_build)
        for q in qs[:3]:
            find_resources(target, q)  # builds the read model
        latencies = []
        for q, mine in zip(qs, embedded, strict=True):
            start = time.perf_counter()
            there = find_resources(target, q)
            latencies.append((time.perf_counter() - start) * 1000)
            if there.matches != mine.matches or there.teams != mine.teams:
                raise AssertionError(f"the Bolt store answers {q} differently from the embedded store")
        figures["Bolt: findResources in-process median (ms)"] = statistics.median(latencies)
        figures["Bolt: findResources in-process p95 (ms)"] = pct(latencies, 95)
        combo = ["DV", "TSA"]
        if coverage(target, combo) != coverage(source, combo):
            raise AssertionError("the Bolt store's coverage differs from the embedded store's")
        cov_times = timed(lambda: coverage(target, combo), repeat)
        figures["Bolt: coverage, all communes, median (ms)"] = statistics.median(cov_times) * 1000
        second = Neo4jStore.from_settings(settings, namespace=namespace)
        try:
            seen = edit_seen_by_another_server(target, second, qs)
        finally:
            second.close()
        figures["Bolt: an edit seen by a second app server's answers (s)"] = seen[0]
        figures["Bolt: slowest findResources of the second server while the edit reaches it (ms)"] = seen[1]
        elements = sum(report.source_nodes.values()) + sum(report.source_edges.values())
        checks.append(
            f"Bolt store ({where}): {elements:,} nodes and relationships copied, counts compared; "
            f"{len(qs)} findResources answers and the DV+TSA coverage identical to the embedded store; "
            f"an expertise edit written through one store, {seen[2]} searches of a second store over the "
            "same database (another app server) until its answer was the first one's"
        )
    finally:
        target.drop_namespace()
        target.close()
        source.close()
        if server is not None:
            server.discard()


def timed_each(store: MemoryStore, qs: list[SituationQuery]) -> list[float]:
    out = []
    for q in qs:
        start = time.perf_counter()
        find_resources(store, q)
        out.append(time.perf_counter() - start)
    return out


def edit_seen_by_another_server(
    writer: GraphStore, reader: GraphStore, qs: list[SituationQuery]
) -> tuple[float, float, int]:
    """Two app servers over one Bolt database: an expertise edit saved through
    ``writer`` (a partial row of an answer becomes competent for every
    deficiency), then ``reader`` searched again and again, as requests keep
    coming, until it gives the writer's new answer. Returns the seconds until
    then, the slowest of those searches (ms) and how many there were."""
    from graph.matching import Basis, MatchLevel
    from graph.model import Edge, NodeRef, RelType

    for q in qs:
        before = find_resources(writer, q)
        partial = [
            m
            for m in before.matches
            if m.level is MatchLevel.LOCAL and m.group == "within" and m.basis is Basis.PARTIAL
        ]
        if partial:
            break
    else:
        raise AssertionError("no answer with a partial row to edit")
    find_resources(reader, q)  # the second server's read model, built
    busy = time.perf_counter()
    while time.perf_counter() - busy < 1.2:  # then it serves requests, as before any write
        find_resources(reader, q)
        time.sleep(0.01)
    row = partial[-1]
    writer.upsert(
        edges=[
            Edge(
                RelType.HAS_EXPERTISE,
                NodeRef(row.kind, row.key),
                NodeRef(NodeKind.DEFICIENCY, code),
                {"level": 3, "source": "saisie"},
            )
            for code in before.deficiencies
        ]
    )
    start = time.perf_counter()
    after = find_resources(writer, q)
    if after.matches == before.matches:
        raise AssertionError("the edit did not change the writer's answer")
    slowest, calls = 0.0, 0
    while True:
        begin = time.perf_counter()
        there = find_resources(reader, q)
        slowest = max(slowest, (time.perf_counter() - begin) * 1000)
        calls += 1
        if there.matches == after.matches:
            return time.perf_counter() - start, slowest, calls
        if time.perf_counter() - start > 60:
            raise AssertionError("the second store did not see the edit within 60 s")
        time.sleep(0.01)  # requests keep coming


def first_answer_after_writes(
    store: MemoryStore,
    qs: list[SituationQuery],
    work: Path,
    seed: int,
    figures: dict[str, float],
    checks: list[str],
) -> set[str]:
    """The first findResources after an expertise edit (5 edits, median) and after
    an import of 100 FINESS rows: what an animator waits for once they saved.
    Returns the FINESS numbers of that import's establishments (a later national
    file that does not list them closes them)."""
    from graph.model import Edge, NodeRef, RelType
    from importers.finess import import_finess

    for q in qs[:10]:
        find_resources(store, q)  # the read model of the current state, built
    professionals = [p.ref for p, _ in zip(store.nodes(NodeKind.PROFESSIONAL), range(5), strict=False)]
    after_edit = []
    for i, ref in enumerate(professionals):
        store.upsert(
            edges=[
                Edge(
                    RelType.HAS_EXPERTISE,
                    ref,
                    NodeRef(NodeKind.DEFICIENCY, "DV"),
                    {"level": 3, "source": "saisie"},
                )
            ]
        )
        start = time.perf_counter()
        find_resources(store, qs[i])
        after_edit.append((time.perf_counter() - start) * 1000)
    figures["first findResources after an expertise edit (ms)"] = statistics.median(after_edit)
    rows = work / "etalab-cs1100507-stock-20260108-0401.csv"
    national_finess(store, rows, 100, seed + 1)
    report = import_finess(store, rows, all_categories=True)
    start = time.perf_counter()
    find_resources(store, qs[len(professionals)])
    figures["first findResources after a 100-row import (ms)"] = (time.perf_counter() - start) * 1000
    checks.append(
        f"Writes: {len(professionals)} expertise edits, then an import of {report.created} FINESS "
        "establishments, each followed by one findResources (the read model updated, not rebuilt)"
    )
    return _finess_numbers(rows)


def _finess_numbers(path: Path) -> set[str]:
    return {
        line.split(";")[1]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("structureet;")
    }


def http_versus_minimal(
    data: Path,
    qs: list[SituationQuery],
    secret: str,
    args: argparse.Namespace,
    figures: dict[str, float],
    checks: list[str],
) -> None:
    """findResources over HTTP GraphQL against the minimal route (benchmarks/minimal_app.py),
    both with ``args.workers`` processes: one client, the two servers asked in turn
    (the answers compared), then 8 concurrent clients on each."""
    from api.queries import FIND_RESOURCES_QUERY

    def body(q: SituationQuery) -> bytes:
        return json.dumps(
            {
                "query": FIND_RESOURCES_QUERY,
                "variables": {
                    "situation": {
                        "deficiencies": list(q.deficiencies),
                        "skills": list(q.skills),
                        "age": q.age,
                        "commune": q.commune,
                        "radiusKm": q.radius_km,
                    },
                    "limit": q.limit,
                },
            }
        ).encode()

    bodies = [body(q) for q in qs]
    served = [serve(data, args.workers), serve(data, args.workers, minimal=True)]
    try:
        (_, url), (_, minimal_url) = served
        # Warm up every worker (each loads the store, then builds its indexes on first use).
        deadline = time.monotonic() + args.warmup_s
        while time.monotonic() < deadline:
            for where in (url, minimal_url):
                concurrent_load(where, secret, bodies[:8], args.workers * 2, 1.0, diagnose=True)
        clients = [Client(url, {"Authorization": f"Bearer {secret}"}), Client(minimal_url, {})]
        times: list[list[float]] = [[], []]
        for i, b in enumerate(bodies[: args.http_queries]):
            answers = [b"", b""]
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                start = time.perf_counter()
                status, answers[k] = clients[k].post("/graphql", b)
                times[k].append((time.perf_counter() - start) * 1000)
                if status != 200:
                    raise AssertionError(answers[k][:300])
            mine, theirs = json.loads(answers[0]), json.loads(answers[1])
            if "errors" in mine or mine != theirs:
                raise AssertionError(
                    f"the served API and the minimal route answer differently: {answers[0][:300]!r}"
                )
        for c in clients:
            c.close()
        figures["findResources HTTP median (ms)"] = statistics.median(times[0])
        figures["findResources HTTP p95 (ms)"] = pct(times[0], 95)
        figures["peer minimal route HTTP median (ms)"] = statistics.median(times[1])
        figures["findResources HTTP / minimal route, median (×)"] = statistics.median(
            times[0]
        ) / statistics.median(times[1])
        rate, p95, p99, tool = concurrent_load(url, secret, bodies, 8, args.load_s)
        workers_mb = children_rss_mb(served[0][0].pid)
        figures["resident memory per server worker (MB)"] = max(workers_mb)
        figures["findResources HTTP 8 clients (req/s)"] = rate
        figures["findResources HTTP 8 clients p95 (ms)"] = p95
        figures["findResources HTTP 8 clients p99 (ms)"] = p99
        rate_m, _p95, p99_m, _tool = concurrent_load(minimal_url, secret, bodies, 8, args.load_s)
        figures["peer minimal route 8 clients (req/s)"] = rate_m
        figures["peer minimal route 8 clients p99 (ms)"] = p99_m
        figures["findResources HTTP 8 clients / minimal route (×)"] = rate / rate_m
        baseline_throughput(data, bodies, secret, args, rate, url, figures, checks)
        checks.append(
            f"HTTP: {args.workers} server worker(s) for the served API and for the minimal route; "
            f"{args.http_queries} answers identical; 8 concurrent clients driven by {tool}"
        )
    finally:
        for proc, _url in served:
            proc.terminate()
            proc.wait(timeout=30)


def baseline_source(work: Path) -> Path | None:
    """The files of ``BASELINE_COMMIT`` (``git archive``), or None without the
    project's git history."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE_COMMIT],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    target = work / "baseline"
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def baseline_bodies(source: Path, bodies: list[bytes]) -> tuple[list[bytes], str]:
    """``bodies`` with the baseline's own findResources document (its
    ``api/queries.py``: today's asks fields its schema does not have), and
    which document was sent."""
    try:
        document = runpy.run_path(str(source / "api" / "queries.py"))["FIND_RESOURCES_QUERY"]
    except (OSError, KeyError, SyntaxError, ImportError) as err:
        return bodies, f"today's document (its own unreadable: {err})"
    out = []
    for body in bodies:
        request = json.loads(body)
        request["query"] = document
        out.append(json.dumps(request).encode())
    return out, "its own findResources document"


def _ranked(answer: dict[str, Any]) -> list[tuple[Any, Any]]:
    found = (answer.get("data") or {}).get("findResources") or {}
    return [(m.get("kind"), m.get("key")) for m in found.get("matches") or []]


def baseline_throughput(
    data: Path,
    bodies: list[bytes],
    secret: str,
    args: argparse.Namespace,
    rate: float,
    url: str,
    figures: dict[str, float],
    checks: list[str],
) -> None:
    """8 clients on the baseline's server (same workers, a copy of the same data),
    between two runs of the served API: the ratio is the served API's mean to it."""
    work = Path(tempfile.mkdtemp(prefix="dihr-bench-baseline-"))
    try:
        source = baseline_source(work)
        if source is None:
            checks.append(f"Baseline {BASELINE_COMMIT}: no git history here, throughput ratio not measured")
            return
        their_bodies, document = baseline_bodies(source, bodies)
        copy = work / "data"
        shutil.copytree(data, copy, ignore=shutil.ignore_patterns("*.pickle", "sessions.sqlite*", "*.pid"))
        try:
            proc, baseline_url = serve(copy, args.workers, root=source)
        except RuntimeError as err:  # another version's code: reported, the other figures still stand
            checks.append(f"Baseline {BASELINE_COMMIT}: not measured, {err}")
            return
        try:
            deadline = time.monotonic() + args.warmup_s
            while time.monotonic() < deadline:
                concurrent_load(baseline_url, secret, bodies[:8], args.workers * 2, 1.0)
            theirs = Client(baseline_url, {"Authorization": f"Bearer {secret}"})
            mine = Client(url, {"Authorization": f"Bearer {secret}"})
            same, answered, differs, refused = 0, 0, "", ""
            compared = list(zip(bodies[:50], their_bodies[:50], strict=True))
            for b, their_b in compared:
                (status_t, answer_t), (status_m, answer_m) = (
                    theirs.post("/graphql", their_b),
                    mine.post("/graphql", b),
                )
                t, m = json.loads(answer_t), json.loads(answer_m)
                same += _ranked(t) == _ranked(m)
                if status_t == 200 and not t.get("errors") and (t.get("data") or {}).get("findResources"):
                    answered += 1
                elif not refused:
                    first = (t.get("errors") or [{}])[0]
                    refused = f"HTTP {status_t}, {str(first.get('message', answer_t[:120]))[:160]!r}"
                if _ranked(t) != _ranked(m) and not differs:
                    differs = (
                        f" (first difference: HTTP {status_t}/{status_m}, "
                        f"{_ranked(t)[:3]} vs {_ranked(m)[:3]}…)"
                    )
            theirs.close()
            mine.close()
            if answered < len(compared):
                # Errors answered fast are no throughput: the baseline cannot read this data or document.
                checks.append(
                    f"Baseline {BASELINE_COMMIT}: not measured, {len(compared) - answered} of {len(compared)} "
                    f"of its answers carry no findResources (first: {refused})"
                )
                return
            before, _p95, p99_before, _tool = concurrent_load(
                baseline_url, secret, their_bodies, 8, args.load_s
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        again, *_ = concurrent_load(url, secret, bodies, 8, args.load_s)
        figures["baseline 8 clients (req/s)"] = before
        figures["baseline 8 clients p99 (ms)"] = p99_before
        figures["findResources HTTP 8 clients vs baseline (×)"] = (rate + again) / 2 / before
        checks.append(
            f"Baseline: commit {BASELINE_COMMIT} (the code issue #21 measured) served from its own files "
            f"with the same workers and data, sent {document}; {same} of {len(compared)} answers ranking "
            f"the same resources as the served API's{differs}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: The figures repeated on the larger networks (how cost grows).
SCALED = (
    "load national network (s)",
    "worker reopen to first answer, median (s)",
    "resident memory of a fresh worker (MB)",
    "resident memory, graph in memory (MB)",
    "findResources in-process median (ms)",
    "findResources in-process p95 (ms)",
    "findResources / best peer, median (×)",
    "findResources / best peer, p95 (×)",
    "findResources / cKDTree per needs peer, median (×)",
    "coverage, all communes, median (ms)",
    "coverage / cKDTree peer, median (×)",
    "first findResources after an expertise edit (ms)",
    "first findResources after a 100-row import (ms)",
)


def scaled(
    reference: Path, scale: int, args: argparse.Namespace, figures: dict[str, float], checks: list[str]
) -> None:
    """The national network ``scale`` times larger (establishments, professionals,
    situations), on the same communes: loading, reopening, memory, findResources
    and coverage against the peers, and the first answer after writes."""
    work = Path(tempfile.mkdtemp(prefix=f"dihr-bench-x{scale}-"))
    try:
        data = work / "data"
        shutil.copytree(reference, data)
        store = MemoryStore(data)
        start = time.perf_counter()
        generate_demo(
            store,
            seed=args.seed,
            establishments=args.establishments * scale,
            professionals=args.professionals * scale,
            situations=args.situations * scale,
        )
        found = {"load national network (s)": time.perf_counter() - start}
        store.close()
        first_query = SituationQuery(deficiencies=["DV", "TSA"], commune="75056")
        worker_reopen(data, first_query, 1)  # the snapshot written
        found["worker reopen to first answer, median (s)"] = statistics.median(
            worker_reopen(data, first_query, 3)
        )
        found["resident memory of a fresh worker (MB)"] = fresh_process_rss_mb(data)
        found["resident memory, graph in memory (MB)"] = fresh_process_rss_mb(data, "graph")
        store = MemoryStore(data)
        qs = queries(store, max(30, args.queries // 3), args.seed)
        notes: list[str] = []
        find_versus_peers(store, qs, 2, found, notes, oracle=False)
        found["findResources / cKDTree per needs peer, median (×)"] = (
            found["findResources in-process median (ms)"]
            / found["peer cKDTree per needs findResources median (ms)"]
        )
        coverage_versus_peers(store, ["DV", "TSA"], 2, found, notes, oracle=False)
        first_answer_after_writes(store, qs, work, args.seed, found, notes)
        store.close()
        for name in SCALED:
            figures[f"{name} at {scale}×"] = found[name]
        checks.append(f"{scale}× network: " + "; ".join(notes))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, float] = {}
    checks: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="dihr-bench-"))
    try:
        data = work / "data"
        reference_copy = work / "reference"
        if args.reference:
            shutil.copytree(args.reference, data)
        else:
            from importers.reference import init_reference

            store = MemoryStore(data)
            init_reference(store, Settings(data_dir=data))
            store.close()
            shutil.copytree(data, reference_copy)
        store = MemoryStore(data)
        start = time.perf_counter()
        generate_demo(
            store,
            seed=args.seed,
            establishments=args.establishments,
            professionals=args.professionals,
            situations=args.situations,
        )
        figures["load national network (s)"] = time.perf_counter() - start
        store.close()

        reopen = []
        for _ in range(args.repeat_reopen):
            start = time.perf_counter()
            store = MemoryStore(data)
            reopen.append(time.perf_counter() - start)
            if _ < args.repeat_reopen - 1:
                store.close()
        figures["reopen, graph in memory, median (s)"] = statistics.median(reopen)
        figures["resident memory, graph in memory (MB)"] = fresh_process_rss_mb(data, "graph")
        first_query = SituationQuery(deficiencies=["DV", "TSA"], commune="75056")
        (data / SNAPSHOT_FILENAME).unlink(missing_ok=True)
        figures["worker first start, snapshot built (s)"] = worker_reopen(data, first_query, 1)[0]
        opened = worker_reopen(data, first_query, args.repeat_reopen)
        figures["worker reopen to first answer, median (s)"] = statistics.median(opened)
        figures["worker reopen to first answer, p95 (s)"] = pct(opened, 95)
        figures["resident memory of a fresh worker (MB)"] = fresh_process_rss_mb(data)
        counts = store.count_nodes()

        qs = queries(store, args.queries, args.seed)
        results = find_versus_peers(store, qs, args.rounds, figures, checks)
        figures["findResources / cKDTree per needs peer, median (×)"] = (
            figures["findResources in-process median (ms)"]
            / figures["peer cKDTree per needs findResources median (ms)"]
        )
        varied = varied_queries(store, args.queries, args.seed + 1)
        varied_figures: dict[str, float] = {}
        varied_notes: list[str] = []
        find_versus_peers(store, varied, args.rounds, varied_figures, varied_notes, oracle=False)
        figures["findResources varied mix median (ms)"] = varied_figures[
            "findResources in-process median (ms)"
        ]
        figures["findResources varied mix p95 (ms)"] = varied_figures["findResources in-process p95 (ms)"]
        figures["findResources varied mix / cKDTree per needs peer, median (×)"] = (
            varied_figures["findResources in-process median (ms)"]
            / varied_figures["peer cKDTree per needs findResources median (ms)"]
        )
        sets = len({(frozenset(q.deficiencies), frozenset(q.skills)) for q in varied})
        checks.append(
            f"Varied mix: {len(varied)} queries over {sets} sets of needs; " + "; ".join(varied_notes)
        )
        figures["findResources speed-up vs naive (×)"] = (
            figures["naive findResources median (ms)"] / figures["findResources in-process median (ms)"]
        )
        coverage_versus_peers(store, ["DV", "TSA"], args.rounds, figures, checks)
        figures["coverage speed-up vs naive (×)"] = (
            figures["naive coverage (s)"] * 1000 / figures["coverage, all communes, median (ms)"]
        )

        combo = ["DV", "TSA"]
        gap_times = timed(lambda: gaps(store, level="ERHR"), max(1, args.repeat // 3))
        figures["gap matrix median (s)"] = statistics.median(gap_times)
        figures["gap matrix p95 (s)"] = pct(gap_times, 95)

        from api.maps_service import coverage_map_html

        settings = Settings(data_dir=data, map_tiles="")
        map_times = timed(
            lambda: coverage_map_html(
                store, settings, SYSTEM, combo, level="DEPARTMENT", threshold_km=60, age=None, served=True
            ),
            max(1, args.repeat // 5),
        )
        figures["coverage map, departments, median (s)"] = statistics.median(map_times)
        figures["coverage map, departments, p95 (s)"] = pct(map_times, 95)

        _, secret = create_key(store, "gnchr", label="benchmark")
        store.close()
        http_versus_minimal(data, qs, secret, args, figures, checks)
        if args.bolt:
            bolt_store(data, qs, results, args.repeat, figures, checks)
        # Last, so that the writes and the national FINESS file do not weigh on the other figures.
        store = MemoryStore(data)
        imported = first_answer_after_writes(store, qs, work, args.seed, figures, checks)
        finess = work / "etalab-cs1100507-stock-20260108-0400.csv"
        national_finess(store, finess, args.finess, args.seed)
        from importers.finess import import_finess

        start = time.perf_counter()
        closing = len(
            imported - _finess_numbers(finess)
        )  # the small import's, absent from this national file
        report = import_finess(store, finess, all_categories=True, accept_closures=closing or None)
        figures["FINESS national import (s)"] = time.perf_counter() - start
        checks.append(f"FINESS: {report.read} lines read, {report.created} establishments created")

        store.close()
        for scale in args.scales:
            scaled(args.reference or reference_copy, scale, args, figures, checks)
        if args.real_finess is not None:
            real_register(
                args.reference or reference_copy,
                args.real_finess,
                args.real_communes,
                3 if args.smoke else 10,
                args.seed,
                figures,
                checks,
            )
        else:
            checks.append(
                "Real register: no national FINESS file beside the project (shared/data/finess): skipped"
            )
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "network": {k.value: v for k, v in sorted(counts.items())},
            "figures": figures,
            "checks": checks,
            "smoke": args.smoke,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(result: dict[str, Any]) -> str:
    net = result["network"]
    lines = [
        f"Benchmark of {result['date'][:10]} on {result['machine']}.",
        f"Network (SYNTHETIC, real geography): {net.get('Commune', 0):,} communes, {net.get('Establishment', 0):,} "
        f"establishments, {net.get('Professional', 0):,} professionals, {net.get('Situation', 0):,} situations.",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, value in result["figures"].items():
        target = TARGETS.get(name)
        if target:
            op, bound = target
            met = value <= bound if op == "<=" else value >= bound
            lines.append(f"| {name} | {value:,.2f} | {op} {bound:g} | {'yes' if met else '**no**'} |")
        else:
            lines.append(f"| {name} | {value:,.2f} | | |")
    lines += [
        "",
        "Peers (benchmarks/peers.py, benchmarks/minimal_app.py), run interleaved with the project in the same",
        "process, query by query, every answer compared: *numpy* scores every resource in a latitude/longitude",
        "box with vectorised numpy; *cKDTree* asks scipy's k-d tree for the resources within the radius, scores",
        "them with numpy and widens by k-nearest queries; for coverage, *cKDTree* selects the competent resources",
        "with numpy and asks one tree per land mass for every commune centroid at once. The *floors* are what no",
        "answer can skip: the radius query and one sort of its distances (findResources), the single tree query",
        "of every centroid on a built tree (coverage). The *minimal route* is a bare FastAPI route calling the",
        "same service and writing the same JSON with orjson (no GraphQL, no authentication, no middleware).",
        "",
        "Medians and p95 are over repeated runs; loading the network, the national FINESS import and the",
        "memory of a fresh process are one whole national operation each, measured once per run.",
        "",
        *[f"- check: {c}" for c in result["checks"]],
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a small run (make test)")
    parser.add_argument(
        "--reference", type=Path, help="an initialised data directory to copy (skips dihr init)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="copy the table into docs/benchmarks.md (between the bench markers)",
    )
    parser.add_argument(
        "--workers", type=int, help="server worker processes (default: as `dihr serve`, the cores, at most 4)"
    )
    parser.add_argument(
        "--no-bolt",
        dest="bolt",
        action="store_false",
        help="skip the Bolt store figures (copy to ArcadeDB or DIHR_NEO4J_URI)",
    )
    parser.add_argument(
        "--scale", default=None, help="larger networks to measure too, as factors (default: 4; smoke: none)"
    )
    parser.add_argument(
        "--real-finess",
        type=Path,
        default=REAL_FINESS[-1] if REAL_FINESS else None,
        help="the real national FINESS file for the real-register searches (default: shared/data/finess)",
    )
    args = parser.parse_args(argv)
    args.real_communes = 10 if args.smoke else 60
    if args.scale is None:
        args.scale = "" if args.smoke else "4"
    sizes = (
        (300, 600, 200, 30, 10, 5, 2000) if args.smoke else (15_000, 40_000, 10_000, 300, 100, 20, 100_000)
    )
    (
        args.establishments,
        args.professionals,
        args.situations,
        args.queries,
        args.http_queries,
        args.repeat,
        args.finess,
    ) = sizes
    args.repeat_reopen = 2 if args.smoke else 5
    args.rounds = 2 if args.smoke else 3
    args.scales = [int(x) for x in args.scale.split(",") if x.strip()] if args.scale else []
    args.workers = args.workers or min(4, os.cpu_count() or 1)
    args.warmup_s = 2.0 if args.smoke else 8.0
    args.load_s = 2.0 if args.smoke else 15.0
    result = run(args)
    text = markdown(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "smoke" if args.smoke else f"bench-{result['date'][:10]}"
    (args.out / f"{stem}.md").write_text(text, encoding="utf-8")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.readme and not args.smoke:
        readme = ROOT / "docs" / "benchmarks.md"
        before, _, rest = readme.read_text(encoding="utf-8").partition(README_START)
        _, _, after = rest.partition(README_END)
        readme.write_text(f"{before}{README_START}\n{text}{README_END}{after}", encoding="utf-8")
    return 0


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


if __name__ == "__main__":
    sys.exit(main())
