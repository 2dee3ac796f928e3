"""What the FINESS register alone says of competence: category, name, contacts,
closures — on every backend, with fixture files in the official layout."""

from __future__ import annotations

import pytest

from graph.matching import MatchLevel, SituationQuery, find_resources
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from importers.equipements import import_equipements
from importers.finess import DISABILITY_CATEGORIES, import_finess
from importers.finess_competence import category_rules, infer, keyword_rules
from tests.factories import build_territory
from tests.importers.test_finess import geoloc, structure, write

K, R = NodeKind, RelType


@pytest.fixture
def region(store):
    """Poitiers and a village 30 km away, with the vocabulary (no demo, no directory)."""
    build_territory(store)
    store.upsert(
        [
            Node(
                K.COMMUNE,
                "86001",
                {"name": "Adriers", "department": "86", "lat": 46.26, "lon": 0.80, "population": 700},
            )
        ],
        [Edge(R.PART_OF, NodeRef(K.COMMUNE, "86001"), NodeRef(K.DEPARTMENT, "86"))],
    )
    return store


def accepts(store, finess):
    ref = NodeRef(K.ESTABLISHMENT, finess)
    return {e.target.key: dict(e.props) for e in store.edges_from([ref], [R.ACCEPTS])[ref]}


def local(result):
    return [m for m in result.matches if m.level is MatchLevel.LOCAL]


def test_every_disability_category_of_the_nomenclature_has_a_rule():
    # shared FINESS.md §2, with 370 and 198 that the national file holds too
    listed = [
        "182",
        "183",
        "186",
        "188",
        "189",
        "190",
        "192",
        "194",
        "195",
        "196",
        "238",
        "377",
        "390",
        "396",
        "402",
        "246",
        "249",
        "252",
        "253",
        "255",
        "379",
        "382",
        "395",
        "437",
        "445",
        "446",
        "448",
        "449",
        "464",
        "461",
        "370",
        "198",
    ]
    assert set(listed) <= set(category_rules()) and set(DISABILITY_CATEGORIES) == set(category_rules())
    assert all(rule.source.startswith("DREES, nomenclature FINESS") for rule in category_rules().values())
    assert len(keyword_rules()) >= 10


@pytest.mark.parametrize(
    ("category", "name", "expected", "band"),
    [
        ("195", "INSTITUT DES JEUNES SOURDS", {"DA"}, (0, 20)),
        ("196", "INSTITUT D EDUCATION SENSORIELLE", {"DA", "DV"}, (0, 20)),
        ("190", "CAMSP DE LA VIENNE", {"DI", "DM", "DA", "DV", "TSA", "POLY"}, (0, 6)),
        ("255", "MAS LES GENETS", {"POLY", "DI", "DM", "CEREB"}, (18, None)),
        (
            "182",
            "SESSAD SSEFS LES ALIZES",
            {"DA"},
            (0, 20),
        ),  # the name's specialisation replaces the category's
        ("182", "SAAAIS DE LA VIENNE", {"DV"}, (0, 20)),
        ("437", "FAM POUR PERSONNES SOURDES-AVEUGLES", {"DA", "DV"}, (18, None)),
        ("183", "IME PREMIERE ETAPE", {"DI", "TSA"}, (0, 20)),  # « PREMIERE » is no « IEM »
        ("370", "ETABLISSEMENT EXPERIMENTAL LES SOURCES", set(), (None, None)),
        # dots separate words, dotted initials make one (FINESS writes both)
        ("249", "CTRE DE REED.PROF.DEFIC.VISUELS", {"DV"}, (18, None)),
        ("182", "S.S.E.F.S. LES ALIZES", {"DA"}, (0, 20)),
        # keywords of the services for deaf, blind and autistic persons
        ("446", "SAVS DE L'URAPEDA", {"DA"}, (18, None)),
        ("446", "SAVS LSF 29", {"DA"}, (18, None)),
        ("446", "SAVS SENSORIEL", {"DA", "DV"}, (18, None)),
        ("182", "SESSAD PRO DV VALENTIN HAUY", {"DV"}, (0, 20)),
        ("461", "CRA CHU AMIENS", {"TSA"}, (None, None)),
        ("183", "UEMA DE L'IME LA SOLO", {"TSA"}, (0, 20)),
        # a specific category keeps its public, the name adds to it
        ("188", "IEM DE METZ", {"POLY", "DM"}, (0, 20)),
        # « éducation sensorielle » is the common name of institutes for the deaf and for the blind
        ("195", "INST. D'EDUCATION SENSORIELLE", {"DA"}, (0, 20)),
        ("194", "INSTITUT EDUC SENSORIELLE- DEF VISUELS", {"DV"}, (0, 20)),
    ],
)
def test_category_and_name_imply_deficiencies_and_ages(category, name, expected, band):
    inferred = infer(category, name)
    assert inferred is not None and set(inferred.accepts) == expected
    assert (inferred.age_min, inferred.age_max) == band


def test_temporary_care_offers_respite():
    assert "RESPITE" in infer("390", "ACCUEIL TEMPORAIRE LES PETITS PAS").skills


def test_register_alone_answers_a_deaf_child_in_a_village_with_address_and_phone(tmp_path, region):
    path = write(
        tmp_path,
        [
            structure("860000101", "86", "194", name="INSTITUT REGIONAL DES JEUNES SOURDS", category="195"),
            structure("860000102", "86", "194", name="MAS LES GENETS", category="255"),
            geoloc("860000101", 46.585, 0.345),
            geoloc("860000102", 46.59, 0.35),
        ],
    )
    report = import_finess(region, path)
    assert any("categorie_finess" in note for note in report.notes)
    link = accepts(region, "860000101")["DA"]
    assert (link["source"], link["category"], link["age_min"], link["age_max"]) == (
        "categorie_finess",
        "195",
        0,
        20,
    )
    result = find_resources(region, SituationQuery(deficiencies=["DA"], age=8, commune="86001", radius_km=60))
    found = local(result)
    assert [m.key for m in found] == ["860000101"]  # the MAS takes adults, not a deaf child
    match = found[0]
    assert match.covers[0].source == "categorie_finess"
    assert match.covers[0].text == (
        "accueille DA (déficience auditive grave), 0-20 ans — "
        "déduit de la catégorie FINESS 195, Institut pour déficients auditifs"
    )
    assert match.contact is not None
    assert (match.contact.address, match.contact.postcode, match.contact.city, match.contact.phone) == (
        "12 RUE DES LILAS, 86000 VILLE",
        "86000",
        "VILLE",
        "05 49 00 00 00",
    )
    assert match.contact.source == "FINESS, extraction du 08/01/2021"
    assert "courriel" in (match.contact.missing or "").lower()


def test_equipements_clienteles_replace_the_inferred_links_and_survive_a_reimport(tmp_path, region):
    finess_file = write(
        tmp_path,
        [
            structure("860000201", "86", "194", name="IME LES TILLEULS", category="183"),
            geoloc("860000201", 46.585, 0.345),
        ],
    )
    import_finess(region, finess_file)
    assert set(accepts(region, "860000201")) == {"DI", "TSA"}
    equip = tmp_path / "etalab-cs1100505-stock-20210108-0427.csv"
    equip.write_text(
        "finess;etalab;94;2021-01-08\n"
        + ";".join(
            [
                "equipementsocial",
                "860000201",
                "902",
                "Accueil",
                "14",
                "Externat",
                "437",
                "TSA",
                "S",
                "12",
                "",
                "",
                "",
                "3",
                "20",
                "N",
                "30",
                "2020-01-01",
                "2020-06-30",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    import_equipements(region, equip)
    after = accepts(region, "860000201")
    assert set(after) == {"TSA"} and after["TSA"]["source"] == "finess-equipements"
    assert "category" not in after["TSA"] and after["TSA"]["age_min"] == 3
    import_finess(region, finess_file)  # the next FINESS extraction adds no inferred link back
    assert set(accepts(region, "860000201")) == {"TSA"}


def test_a_changed_category_drops_the_links_it_no_longer_implies(tmp_path, region):
    import_finess(
        region, write(tmp_path, [structure("860000301", "86", "194", name="IEM LES CEDRES", category="192")])
    )
    assert set(accepts(region, "860000301")) == {"DM"}
    newer = write(
        tmp_path,
        [structure("860000301", "86", "194", name="EEAP LES CEDRES", category="188")],
        name="etalab-cs1100507-stock-20210301-0400.csv",
    )
    import_finess(region, newer)
    assert set(accepts(region, "860000301")) == {"POLY"}


def test_closed_establishments_are_never_matched(tmp_path, region):
    both = write(
        tmp_path,
        [
            structure("860000401", "86", "194", name="IJS OUVERT", category="195"),
            structure("860000402", "86", "194", name="IJS FERME", category="195"),
        ],
    )
    import_finess(region, both)
    later = write(
        tmp_path,
        [structure("860000401", "86", "194", name="IJS OUVERT", category="195")],
        name="etalab-cs1100507-stock-20210301-0400.csv",
    )
    assert import_finess(region, later, accept_closures=1).closed == 1
    result = find_resources(
        region, SituationQuery(deficiencies=["DA"], age=8, commune="86194", radius_km=50, limit=5)
    )
    assert [m.key for m in local(result)] == ["860000401"]
    assert result.widening is not None and "860000402" not in result.widening.message


@pytest.mark.parametrize(
    ("category", "name", "department", "expertise", "accepted"),
    [
        # a deafblind service: competent for the combination, not only accepting each deficiency
        ("437", "FAM POUR PERSONNES SOURDES-AVEUGLES", "86", {"DA+DV": "nom_finess"}, {"DA", "DV"}),
        (
            "196",
            "INSTITUT D EDUCATION SENSORIELLE",
            "86",
            {},
            {"DA", "DV"},
        ),  # category 196 alone: each separately
        ("252", "FOYER D'HEBERGT POUR PH PRADER WILLI", "44", {"ORPHA:739": "nom_finess"}, {"DI", "DPSY"}),
        (
            "182",
            "SAS HANDICAPS RARES",
            "29",
            {"DI+DM": "nom_finess"},
            {"DI", "DM"},
        ),  # what it takes, together
        # known for epilepsy (cited table), in its department only: epilepsy with the MAS's public, together
        (
            "255",
            "MAS LA TEPPE",
            "26",
            {"CEREB+DI+DM+EPI+POLY": "etablissement_connu"},
            {"POLY", "DI", "DM", "CEREB", "EPI"},
        ),
        (
            "246",
            "ESAT ASS AIDE A L EPILEPTIQUE",
            "54",
            {"DI+DM+DPSY+EPI": "nom_finess"},
            {"DI", "DPSY", "DM", "EPI"},
        ),
        ("255", "MAS LA TEPPE", "69", {}, {"POLY", "DI", "DM", "CEREB"}),
        ("246", "ESAT LES TEPPES", "26", {}, {"DI", "DPSY", "DM"}),
    ],
)
def test_what_the_name_says_of_a_combination_or_a_condition(category, name, department, expertise, accepted):
    found = infer(category, name, department)
    assert found is not None
    assert {k: v["source"] for k, v in found.expertise.items()} == expertise
    assert set(found.accepts) == accepted
    if department == "26" and "LA TEPPE" in name:
        assert (
            found.accepts["EPI"]["source"] == "etablissement_connu"
            and "teppe.org" in found.accepts["EPI"]["reference"]
        )


def test_a_prader_willi_home_is_found_by_the_condition_and_a_deafblind_one_counts_in_coverage(
    region, tmp_path
):
    from graph.coverage import coverage
    from graph.directory import DirectoryFilter, search_directory

    lines = [
        structure("860000401", "86", "194", name="FOYER POUR PERSONNES PRADER WILLI", category="252"),
        geoloc("860000401", 46.6, 0.35),
        structure("860000402", "86", "194", name="FAM POUR PERSONNES SOURDES AVEUGLES", category="437"),
        geoloc("860000402", 46.62, 0.36),
        structure("860000403", "86", "194", name="INSTITUT D EDUCATION SENSORIELLE", category="196"),
        geoloc("860000403", 46.63, 0.37),
    ]
    import_finess(region, write(tmp_path, lines))
    page = search_directory(region, DirectoryFilter(conditions=("ORPHA:739",)))
    assert [r.key for r in page.entries] == ["860000401"]
    deafblind = coverage(region, ["DA", "DV"], local_only=True)
    assert deafblind.national.resources == 1  # the FAM named « sourdes aveugles », not the 196 institute
    result = find_resources(region, SituationQuery(deficiencies=["DA", "DV"], age=30, commune="86194"))
    fam = next(m for m in local(result) if m.key == "860000402")
    assert fam.basis.value == "COMBINATION" and "surdicécité" in fam.covers[0].text


def _equipement(finess, de, libde, ta, libta, client, libclient, cap, amin, amax, deleted="N"):
    """An ``equipementsocial`` line in the official layout (shared FINESS.md §3):
    fields 1-16, then the authorised capacities and dates that follow them."""
    return ";".join(
        [
            "equipementsocial", finess, de, libde, ta, libta, client, libclient, "S", cap, "", "", "",
            amin, amax, deleted, cap, "2015-09-01", "2016-01-04", "2020-06-30",
        ]
    )  # fmt: skip


def test_equipements_in_the_official_layout_with_its_structure_lines_and_latin_1(tmp_path, region):
    """The équipements extraction as FINESS publishes it: the metadata line, the
    ``structureet`` lines first, then one line per discipline × activity type ×
    clientèle, in ISO-8859-1, with more than 16 fields. The clientèle codes are
    ANS TRE_R279 (importers/data/finess_clienteles.csv)."""
    import_finess(
        region,
        write(
            tmp_path,
            [
                structure("860000601", "86", "194", name="CENTRE LES HIRONDELLES", category="196"),
                structure("860000602", "86", "194", name="MAS LES GENETS", category="255"),
                geoloc("860000601", 46.585, 0.345),
                geoloc("860000602", 46.59, 0.35),
            ],
        ),
    )
    lines = [
        "finess;etalab;94;2021-01-08",
        structure("860000601", "86", "194", name="CENTRE LES HIRONDELLES", category="196"),
        structure("860000602", "86", "194", name="MAS LES GENETS", category="255"),
        # surdi-cécité (511): accepts DA and DV, and expertise on their combination
        _equipement("860000601", "902", "Éducation Générale et Soins Spécialisés Enfants Handicapés", "14",
                    "Externat", "511", "Surdi-Cécité avec ou sans Troubles Associés", "12", "3", "20"),
        _equipement("860000602", "917", "Accueil Spécialisé pour Adultes Handicapés", "11",
                    "Hébergement Complet Internat", "500", "Polyhandicap", "40", "20", ""),
        # « tous types de déficiences » says no deficiency; a deleted line is ignored
        _equipement("860000602", "917", "Accueil Spécialisé pour Adultes Handicapés", "21",
                    "Accueil de Jour", "010", "Tous Types de Déficiences", "5", "20", ""),
        _equipement("860000602", "658", "Accueil temporaire", "40", "Accueil temporaire avec hébergement",
                    "437", "Troubles du Spectre de l'Autisme", "2", "18", "60", deleted="O"),
    ]  # fmt: skip
    path = tmp_path / "etalab-cs1100505-stock-20210108-0427.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("iso-8859-1"))
    report = import_equipements(region, path)
    assert report.encoding == "iso-8859-1" and not report.rejected
    deafblind = accepts(region, "860000601")
    assert set(deafblind) == {"DA", "DV"}
    assert deafblind["DA"]["source"] == "finess-equipements" and deafblind["DA"]["clienteles"] == ["511"]
    assert (deafblind["DV"]["age_min"], deafblind["DV"]["age_max"], deafblind["DV"]["capacity"]) == (
        3,
        20,
        12,
    )
    ref = NodeRef(K.ESTABLISHMENT, "860000601")
    assert {e.target.key for e in region.edges_from([ref], [R.HAS_EXPERTISE])[ref]} >= {"DA+DV"}
    mas = accepts(region, "860000602")
    assert set(mas) == {"POLY"} and mas["POLY"].get("age_max") is None  # the deleted TSA line is ignored
    result = find_resources(
        region, SituationQuery(deficiencies=["DA", "DV"], age=10, commune="86194", radius_km=30)
    )
    first = local(result)[0]
    assert first.key == "860000601" and first.basis.value == "COMBINATION"
