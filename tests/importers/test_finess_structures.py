"""The 2026 FINESS *Structures* flow (JSON), in the shape of the ANS's schema
and published samples: establishments imported as from the CSV extraction —
names, places (both published coordinate layouts), categories and what they
imply, closures — on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph.errors import FileFormatError
from graph.matching import MatchLevel, SituationQuery, find_resources
from graph.model import NodeKind
from importers.finess import import_finess
from importers.finess_flows import flow_kind, import_activities
from tests.importers.test_finess_competence import accepts, region  # noqa: F401 (fixture)
from tests.importers.test_finess_flows import activity, flow

K = NodeKind


def ege(
    finess: str,
    name: str,
    category: Any,
    commune: str,
    coordinates: dict[str, str] | None,
    *,
    state: Any = "A",
    closed_on: str | None = None,
) -> dict[str, Any]:
    return {
        "informationsGeneralesEGE": {
            "egeId": f"G{finess}",
            "nomEgeCourt": name,
            "nomEgeLong": name + " (NOM LONG)",
            "numFinessEge": finess,
            "siret": "12345678900011",
            "dateFermeture": closed_on,
        },
        "etatObjet": state,
        "categorieEntiteGeographiqueExercice": category,
        "adresse": [
            {
                "usageAdresse": "03",
                "numeroVoie": "12",
                "typeVoie": "R",
                "libelleVoie": "DES LILAS",
                "complementVoie": None,
                "complementPointGeographique": None,
                "lieuDit": None,
                "cogCommune": commune,
                "ligneAcheminement": "POITIERS",
                "codePostal": "86000",
                "coordonneesGeographique": coordinates,
            }
        ],
        "contact": [{"typeContact": {"roleContact": "01"}, "telecom": {"telephone": "0549000000"}}],
        "dateDerniereMaj": {"dateEvenement": "2026-05-01"},
    }


def structures(tmp_path: Path, establishments: list[dict[str, Any]], name: str = "structures.json") -> Path:
    document = {
        "schemaVersion": "v1.0.0",
        "generatedAt": "2026-03-09T02:06:22Z",
        "pmej": [
            {
                "informationsGeneralesPmej": {
                    "pm_smsseId": "1",
                    "numFinessPm": "860000000",
                    "denominationPm": "ASSO",
                },
                "adresse": [],
                "contact": [],
                "engagement": [],
                "evenement": [],
                "ege": establishments,
            }
        ],
        "gco": [],
        "gcc": [],
    }
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


#: The two layouts the ANS published: WGS 84 in direction*, Lambert 93 in coordonnee* …
SAMPLE = {
    "coordonneeX": "6570713.38",
    "coordonneeY": "497233.98",
    "directionLatitude": "46.5850",
    "directionLongitude": "0.3450",
}
#: … and the other way round (degrees in coordonnee*, X the longitude).
MONTHLY = {
    "coordonneeX": "0.3500",
    "coordonneeY": "46.5900",
    "directionLatitude": "6571271.0",
    "directionLongitude": "497618.0",
}


def _lambert_only(lat: float, lon: float) -> dict[str, str]:
    """Only Lambert 93, northing in X and easting in Y (as the sample stores them)."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(lon, lat)
    return {
        "coordonneeX": f"{y:.2f}",
        "coordonneeY": f"{x:.2f}",
        "directionLatitude": "",
        "directionLongitude": "",
    }


def test_a_structures_flow_is_imported_as_the_csv_extraction(tmp_path, region):  # noqa: F811
    path = structures(
        tmp_path,
        [
            ege("860000701", "INSTITUT REGIONAL DES JEUNES SOURDS", "195", "86194", SAMPLE),
            ege("860000702", "SESSAD DES ALOUETTES", {"code": "182", "system": "TRE_R66"}, "86194", MONTHLY),
            ege("860000703", "CENTRE HOSPITALIER", "355", "86194", None),  # out of scope
            ege("860000704", "IME DES SOURCES", "183", "86194", _lambert_only(46.6, 0.33)),
        ],
    )
    assert flow_kind(path) == "structures"
    report = import_finess(region, path)
    assert report.created == 3 and report.skipped == 1 and not report.rejected
    ime = region.get_node(K.ESTABLISHMENT, "860000704")
    assert ime is not None and (round(ime.props["lat"], 4), round(ime.props["lon"], 4)) == (46.6, 0.33)
    deaf = region.get_node(K.ESTABLISHMENT, "860000701")
    assert deaf is not None and deaf.props["name"] == "INSTITUT REGIONAL DES JEUNES SOURDS"
    assert (round(deaf.props["lat"], 4), round(deaf.props["lon"], 4)) == (46.585, 0.345)
    assert deaf.props["phone"] == "05 49 00 00 00" and deaf.props["postcode"] == "86000"
    assert deaf.props["finess_ej"] == "860000000" and deaf.props["location_source"] == "finess"
    sessad = region.get_node(K.ESTABLISHMENT, "860000702")
    assert sessad is not None and (round(sessad.props["lat"], 4), round(sessad.props["lon"], 4)) == (
        46.59,
        0.35,
    )
    assert set(accepts(region, "860000701")) == {"DA"}  # what category 195 implies
    found = find_resources(region, SituationQuery(deficiencies=["DA"], age=8, commune="86194", radius_km=30))
    assert [m.key for m in found.matches if m.level is MatchLevel.LOCAL][0] == "860000701"
    again = import_finess(region, path)
    assert again.created == 0 and again.updated == 0

    # then the Activités flow of the same day: the declared public replaces the category's
    import_activities(region, flow(tmp_path, {"860000702": [activity("1", "320", "16", ages=(0, 20))]}))
    assert set(accepts(region, "860000702")) == {"DV"}


def test_a_closed_establishment_in_the_flow_is_closed(tmp_path, region):  # noqa: F811
    first = structures(
        tmp_path,
        [ege(f"8600008{i:02d}", f"IME NUMERO {i}", "183", "86194", SAMPLE) for i in range(60)],
    )
    import_finess(region, first)
    later = structures(
        tmp_path,
        [ege("860000800", "IME NUMERO 0", "183", "86194", SAMPLE, state="F", closed_on="2026-04-30")]
        + [ege(f"8600008{i:02d}", f"IME NUMERO {i}", "183", "86194", SAMPLE) for i in range(1, 60)],
        name="later.json",
    )
    report = import_finess(region, later)
    assert report.closed == 1
    node = region.get_node(K.ESTABLISHMENT, "860000800")
    assert node is not None and node.props["closed"] is True


def test_a_cut_structures_flow_is_refused_and_changes_nothing(tmp_path, region):  # noqa: F811
    path = structures(tmp_path, [ege("860000901", "IME DES SOURCES", "183", "86194", SAMPLE)])
    cut = tmp_path / "cut.json"
    cut.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(FileFormatError, match="coupé"):
        import_finess(region, cut)
    assert region.get_node(K.ESTABLISHMENT, "860000901") is None
