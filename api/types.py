"""GraphQL wire types and their explicit conversion from domain types."""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import strawberry

from graph import coverage as cov
from graph import matching, network, rare, service, territories
from graph import transition as radar_
from graph.model import NodeKind
from graph.readmodel import read_model


@strawberry.type(description="Déficience (vocabulaire DIHR), avec son code ROR R245 s'il existe.")
class Deficiency:
    code: str
    label: str
    family: str
    chronic: bool
    ror_r245: str | None


@strawberry.type(description="Compétence ou modalité de communication.")
class Skill:
    code: str
    label: str
    family: str
    ror_r243_label: str | None


@strawberry.type(description="Maladie rare (code ORPHA) et déficiences typiquement associées.")
class Condition:
    orpha: str
    label: str = strawberry.field(description="Nom français (Orphanet) s'il est connu, sinon le nom anglais.")
    involves: list[str] = strawberry.field(
        description="Déficiences fréquentes (phénotype présent chez 30 % des personnes ou plus) : elles forment la combinaison."
    )
    possible: list[str] = strawberry.field(
        description="Déficiences parfois présentes (moins de 30 %, ou fréquence inconnue) : ajoutées seulement à la main."
    )
    name_en: str
    aliases: list[str]
    profile: list[ConditionDeficiency]


@strawberry.type(
    description="Une déficience d'une maladie rare, sa fréquence et les phénotypes HPO qui la fondent."
)
class ConditionDeficiency:
    deficiency: str
    phenotypes: str
    core: bool = strawberry.field(
        description="Vrai : déficience fréquente, déduite ; faux : parfois présente."
    )
    frequency: str = strawberry.field(
        description="La fréquence Orphanet la plus forte des phénotypes, en français."
    )


def condition_wire(c: Any) -> Condition:
    return Condition(
        orpha=c.orpha,
        label=c.label,
        involves=list(c.involves),
        possible=list(c.possible),
        name_en=c.name_en,
        aliases=list(c.aliases),
        profile=[
            ConditionDeficiency(
                deficiency=d,
                phenotypes=c.phenotype_text(d),
                core=d in c.involves,
                frequency=c.frequency_text(d),
            )
            for d in (*c.involves, *c.possible)
        ],
    )


@strawberry.enum
class TerritoryKind(enum.Enum):
    REGION = "REGION"
    DEPARTMENT = "DEPARTMENT"
    ERHR = "ERHR"


@strawberry.type
class Territory:
    kind: TerritoryKind
    code: str
    name: str
    population: int

    @strawberry.field(description="Le territoire englobant : région d'un département, ERHR d'une région.")
    def parent(self, info: strawberry.Info) -> Territory | None:
        table = read_model(info.context.store).territories
        if self.kind is TerritoryKind.DEPARTMENT:
            return territory_wire(
                table.territory(
                    territories.TerritoryKind.REGION, str(table.departments[self.code].props["region"])
                )
            )
        if self.kind is TerritoryKind.REGION:
            return territory_wire(
                table.territory(territories.TerritoryKind.ERHR, table.erhr_of_region[self.code])
            )
        return None

    @strawberry.field(description="Les territoires contenus : régions d'une ERHR, départements d'une région.")
    def children(self, info: strawberry.Info) -> list[Territory]:
        table = read_model(info.context.store).territories
        if self.kind is TerritoryKind.ERHR:
            codes = sorted(r for r, e in table.erhr_of_region.items() if e == self.code)
            return [territory_wire(table.territory(territories.TerritoryKind.REGION, c)) for c in codes]
        if self.kind is TerritoryKind.REGION:
            codes = sorted(d for d, n in table.departments.items() if n.props.get("region") == self.code)
            return [territory_wire(table.territory(territories.TerritoryKind.DEPARTMENT, c)) for c in codes]
        return []


@strawberry.type
class Erhr:
    code: str
    name: str
    regions: list[Territory]
    departments: list[Territory]
    population: int
    seat: str | None
    confidence: str = strawberry.field(description="'good' ou 'to verify' (source : ERHR.md).")


@strawberry.type
class Commune:
    code: str
    name: str
    population: int
    lat: float
    lon: float
    postcodes: list[str]
    department: Territory
    region: Territory
    erhr_code: str


@strawberry.type
class Criterion:
    code: str
    label: str
    cnrhr: str | None


@strawberry.type(description="Qualification d'une combinaison au regard de l'article D312-194 du CASF.")
class Qualification:
    combination: str
    matched: bool
    criteria: list[Criterion]
    cnrhr: list[str]
    superseded: list[str]
    summary: str


def territory_wire(t: territories.Territory) -> Territory:
    return Territory(kind=TerritoryKind(t.kind.value), code=t.code, name=t.name, population=t.population)


def qualification_wire(q: rare.Qualification) -> Qualification:
    return Qualification(
        combination=q.combination,
        matched=q.matched,
        criteria=[Criterion(code=c.code, label=c.label, cnrhr=c.cnrhr) for c in q.criteria],
        cnrhr=list(q.cnrhr),
        superseded=list(q.superseded),
        summary=q.summary,
    )


# -- findResources ------------------------------------------------------------------
@strawberry.enum(description="Types de ressources locales.")
class ResourceKind(enum.Enum):
    ESTABLISHMENT = "Establishment"
    PROFESSIONAL = "Professional"
    RESOURCE_POLE = "ResourcePole"


@strawberry.enum
class MatchLevel(enum.Enum):
    LOCAL = "LOCAL"
    ERHR = "ERHR"
    CNRHR = "CNRHR"


@strawberry.enum(description="Sur quoi repose la compétence d'une ressource.")
class Basis(enum.Enum):
    COMBINATION = "COMBINATION"
    ALL_DEFICIENCIES = "ALL_DEFICIENCIES"
    SEPARATELY = "SEPARATELY"
    PARTIAL = "PARTIAL"
    TERRITORIAL = "TERRITORIAL"
    NATIONAL = "NATIONAL"


@strawberry.input(description="Une situation (pseudonyme : aucune donnée identifiante).")
class SituationInput:
    deficiencies: list[str] = strawberry.field(
        default_factory=list, description="Codes de déficience ; facultatif si une maladie rare est donnée."
    )
    conditions: list[str] = strawberry.field(
        default_factory=list,
        description="Maladies rares : code ORPHA (739, ORPHA:739) ou nom français ou anglais.",
    )
    skills: list[str] = strawberry.field(default_factory=list)
    age: int | None = strawberry.field(default=None, description="Âge en années.")
    commune: str | None = strawberry.field(default=None, description="Code commune INSEE.")
    postcode: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_km: float = strawberry.field(default=100.0, description="Rayon de recherche (1 à 1000 km).")
    kinds: list[ResourceKind] | None = None


@strawberry.type
class NeedCoverage:
    #: made once per domain value and shared by answers (``_shared_wire``), never
    #: changed: the executor's plan completes each one once (api/fastpath.py)
    SHARED_WIRE: ClassVar[bool] = True
    need: str
    need_kind: str
    level: int
    path: str = strawberry.field(description="Chemin du graphe qui prouve la compétence.")
    source: str = strawberry.field(
        description="Origine du lien : categorie_finess, nom_finess, finess-equipements, annuaire, saisie, "
        "synthetique, d312-194, territoire."
    )
    explanation: str = strawberry.field(description="L'explication en français, avec son origine.")
    link: str = strawberry.field(
        description="Le lien qui le prouve : ACCEPTS, HAS_EXPERTISE, INCLUDES (expertise sur une combinaison qui "
        "inclut le besoin), TYPICALLY_INVOLVES (sur une maladie rare), D312_194 (mission nationale d'un CNRHR), "
        "COVERS (territoire de l'ERHR)."
    )


@strawberry.type(description="Coordonnées d'une ressource et leur origine.")
class Contact:
    SHARED_WIRE: ClassVar[bool] = True  # as NeedCoverage's
    address: str | None
    postcode: str | None
    city: str | None
    phone: str | None
    email: str | None
    website: str | None
    source: str = strawberry.field(
        description="D'où viennent ces coordonnées (FINESS et date d'extraction…)."
    )
    missing: str | None = strawberry.field(description="Qui complète les champs vides.")


@strawberry.type
class Match:
    rank: int
    kind: str
    key: str
    name: str
    level: MatchLevel
    basis: Basis
    covers: list[NeedCoverage]
    misses: list[str]
    score: float = strawberry.field(description="Couverture pondérée par le niveau d'expertise (0 à 1).")
    distance_km: float | None = strawberry.field(
        description="Distance à vol d'oiseau (km) ; null si le lieu est inconnu."
    )
    minutes: float | None = strawberry.field(description="Temps de trajet routier estimé (modèle documenté).")
    within_radius: bool
    in_erhr_territory: bool
    department: str | None
    synthetic: bool = strawberry.field(description="Donnée de démonstration synthétique.")
    lat: float | None
    lon: float | None
    contact: Contact | None
    age_group: str = strawberry.field(
        description="children (jusqu'à 20 ans), adults (à partir de 16 ans) ou all."
    )
    location_source: str | None = strawberry.field(
        description="Origine de la position : finess, centroide_commune (centre de la commune seulement), workplace, seat."
    )
    group: str = strawberry.field(
        default="within",
        description="Groupe d'affichage : within (dans le rayon), beyond (au-delà du rayon, plafonné), "
        "next (services pour adultes, pour préparer la suite), referent (ERHR et CNRHR, référents du territoire).",
    )


@strawberry.type
class Team:
    members: list[Match]
    max_distance_km: float


@strawberry.type
class Widening:
    competent_inside: int
    message: str


@strawberry.type
class PersonPlace:
    commune: str
    commune_name: str
    department: str
    lat: float
    lon: float
    approximate: bool


@strawberry.type
class ErhrContact:
    code: str
    name: str
    seat: str | None
    email: str | None
    phone: str | None
    website: str | None
    regions: list[str]
    missing: str | None = strawberry.field(description="Qui complète les coordonnées manquantes.")


@strawberry.type
class FindResourcesResult:
    combination: str
    deficiencies: list[str]
    skills: list[str]
    conditions: list[str]
    qualification: Qualification
    place: PersonPlace
    erhr: ErhrContact
    radius_km: float
    matches: list[Match]
    teams: list[Team]
    widening: Widening | None
    notes: list[str]
    inferred: list[InferredNeed] = strawberry.field(
        description="Déficiences déduites des maladies rares (fréquentes : 30 % ou plus), avec les phénotypes HPO "
        "et leurs fréquences ; seulement quand aucune déficience n'est donnée (celles données à la main priment)."
    )
    possible: list[InferredNeed] = strawberry.field(
        default_factory=list,
        description="Déficiences que ces maladies comportent parfois (moins de 30 %) : non recherchées, à ajouter à la main.",
    )
    transition: bool = strawberry.field(
        description="Personne de 16 à 25 ans : services pour enfants et pour adultes présentés à part (ageGroup)."
    )
    knowledge: list[KnowledgeItem] = strawberry.field(
        description="Les savoirs du GNCHR pour ces besoins (guides, formations, outils, aides en prêt), proposés à côté."
    )


@strawberry.type(description="Un savoir du réseau : guide, formation, outil, aide technique en prêt, malle.")
class KnowledgeItem:
    key: str
    kind: str
    kind_label: str
    title: str
    summary: str
    link: str | None
    author: str
    erhr: str | None = strawberry.field(description="null : national.")
    available: bool | None = strawberry.field(description="Aides et malles en prêt : disponible maintenant ?")
    about: list[KnowledgeSubject]
    synthetic: bool


@strawberry.type
class KnowledgeSubject:
    kind: str
    code: str
    label: str


def knowledge_wire(k: Any) -> KnowledgeItem:
    return KnowledgeItem(
        key=k.key,
        kind=k.kind,
        kind_label=k.kind_label,
        title=k.title,
        summary=k.summary,
        link=k.link,
        author=k.author,
        erhr=k.erhr,
        available=k.available,
        about=[KnowledgeSubject(kind=a, code=c, label=label) for a, c, label in k.about],
        synthetic=k.synthetic,
    )


@strawberry.type
class InferredNeed:
    deficiency: str
    condition: str
    condition_label: str
    phenotypes: str
    explanation: str
    frequency: str = ""
    core: bool = True


def _inferred_wire(i: matching.InferredNeed) -> InferredNeed:
    return InferredNeed(
        deficiency=i.deficiency,
        condition=i.condition,
        condition_label=i.condition_label,
        phenotypes=i.phenotypes,
        explanation=i.text,
        frequency=i.frequency,
        core=i.core,
    )


def situation_query(situation: SituationInput, limit: int) -> matching.SituationQuery:
    return matching.SituationQuery(
        deficiencies=situation.deficiencies,
        conditions=situation.conditions,
        skills=situation.skills,
        age=situation.age,
        commune=situation.commune,
        postcode=situation.postcode,
        lat=situation.lat,
        lon=situation.lon,
        radius_km=situation.radius_km,
        kinds=None if situation.kinds is None else [NodeKind(k.value) for k in situation.kinds],
        limit=limit,
    )


#: The wire's enum member of each domain one (a dict: an enum call by value costs more than the row).
_LEVELS = {level: MatchLevel(level.value) for level in matching.MatchLevel}
_BASES = {basis: Basis(basis.value) for basis in matching.Basis}


def _match_wire(m: matching.Match) -> Match:
    return Match(
        rank=m.rank,
        kind=m.kind.value,
        key=m.key,
        name=m.name,
        level=_LEVELS[m.level],
        basis=_BASES[m.basis],
        covers=_shared_wire(m.covers, _covers_wire),  # (a row's covers come from its template)
        misses=m.misses,  # type: ignore[arg-type]  # read only: completed as a list
        score=m.score,
        distance_km=m.distance_km,
        minutes=m.minutes,
        within_radius=m.within_radius,
        in_erhr_territory=m.in_erhr_territory,
        department=m.department,
        synthetic=m.synthetic,
        lat=m.lat,
        lon=m.lon,
        contact=contact_wire(m.contact),
        age_group=m.age_group,
        location_source=m.location_source,
        group=m.group,
    )


#: Wire twins of immutable domain values that answers share (the matcher keeps
#: its explanations and contacts per read-model state): made once, then reused.
#: Kept by identity, each with its domain value (so that its id is not reused
#: while the entry lives): hashing a frozen dataclass hashes every field.
_WIRES: dict[int, tuple[Any, Any]] = {}
_WIRES_KEPT = 100_000


def _shared_wire(value: Any, make: Any) -> Any:
    hit = _WIRES.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if len(_WIRES) >= _WIRES_KEPT:
        _WIRES.clear()
    wire = make(value)
    _WIRES[id(value)] = (value, wire)
    return wire


def _cover_wire(c: matching.NeedCoverage) -> NeedCoverage:
    return _shared_wire(
        c,
        lambda c: NeedCoverage(  # type: ignore[no-any-return]
            need=c.need,
            need_kind=c.need_kind,
            level=c.level,
            path=c.path,
            source=c.source,
            explanation=c.text or c.path,
            link=c.link,
        ),
    )


def _covers_wire(covers: tuple[matching.NeedCoverage, ...]) -> tuple[NeedCoverage, ...]:
    """A row's covers, shared by the answers holding them: read only, never changed."""
    return tuple(_cover_wire(c) for c in covers)


def contact_wire(c: matching.Contact | None) -> Contact | None:
    if c is None:
        return None
    return _shared_wire(
        c,
        lambda c: Contact(  # type: ignore[no-any-return]
            address=c.address,
            postcode=c.postcode,
            city=c.city,
            phone=c.phone,
            email=c.email,
            website=c.website,
            source=c.source,
            missing=c.missing,
        ),
    )


def match_result_wire(r: matching.MatchResult) -> FindResourcesResult:
    return FindResourcesResult(
        combination=r.combination,
        deficiencies=list(r.deficiencies),
        skills=list(r.skills),
        conditions=list(r.conditions),
        qualification=qualification_wire(r.qualification),
        place=PersonPlace(
            commune=r.place.commune,
            commune_name=r.place.commune_name,
            department=r.place.department,
            lat=r.place.lat,
            lon=r.place.lon,
            approximate=r.place.approximate,
        ),
        erhr=ErhrContact(
            code=r.erhr.code,
            name=r.erhr.name,
            seat=r.erhr.seat,
            email=r.erhr.email,
            phone=r.erhr.phone,
            website=r.erhr.website,
            regions=list(r.erhr.regions),
            missing=r.erhr.missing,
        ),
        radius_km=r.radius_km,
        matches=[_match_wire(m) for m in r.matches],
        transition=r.transition,
        knowledge=[knowledge_wire(k) for k in r.knowledge],
        inferred=[_inferred_wire(i) for i in r.inferred],
        possible=[_inferred_wire(i) for i in r.possible],
        teams=[
            Team(members=[_match_wire(m) for m in t.members], max_distance_km=t.max_distance_km)
            for t in r.teams
        ],
        widening=None
        if r.widening is None
        else Widening(competent_inside=r.widening.competent_inside, message=r.widening.message),
        notes=list(r.notes),
    )


# -- coverage, gaps, what-if, network -------------------------------------------------
@strawberry.enum(description="Niveau territorial d'agrégation.")
class Level(enum.Enum):
    DEPARTMENT = "DEPARTMENT"
    REGION = "REGION"
    ERHR = "ERHR"


@strawberry.type
class ShareBeyond:
    threshold_km: float
    share: float = strawberry.field(description="Part de la population au-delà du seuil (0 à 1).")


@strawberry.type
class TerritoryCoverage:
    code: str
    name: str
    population: int
    resources: int
    resources_per_100k: float
    mean_km: float | None
    median_km: float | None
    mean_minutes: float | None
    shares_beyond: list[ShareBeyond]
    population_beyond: int
    population_unreachable: int = strawberry.field(
        description="Habitants dont la terre (île, département d'outre-mer) n'a aucune ressource compétente : "
        "au-delà de tout seuil, hors des distances moyennes et médianes."
    )
    open_situations: int | None = strawberry.field(
        description="null : effectif masqué (moins de 11, secret statistique)."
    )
    without_solution: int | None = strawberry.field(
        description="Situations ouvertes « sans solution » au-delà du seuil ; null si masqué."
    )
    suppressed: bool = strawberry.field(description="Un effectif de situations est masqué (« < 11 »).")
    open_situations_published: bool = strawberry.field(
        description="false : les effectifs ne sont pas publiés pour cette demande (partenaires : un âge, une simulation)."
    )
    without_solution_published: bool = strawberry.field(
        description="false : « sans solution » n'est pas publié pour cette demande (partenaires : seuil autre que 60 km, un âge, une simulation)."
    )
    zone_blanche: bool = strawberry.field(
        description="Aucune ressource compétente dans le territoire, alors qu'une source pourrait en établir une."
    )
    no_data: bool = strawberry.field(
        default=False,
        description="« Pas de donnée » : aucune source n'établit de compétence locale pour cette "
        "combinaison, nulle part en France (ni zone blanche ni couverture ne peuvent être dites).",
    )


@strawberry.type
class CoverageResult:
    combination: str
    level: Level
    threshold_km: float
    age: int | None
    exact_combination_counts: bool = strawberry.field(
        description="Les effectifs de situations sont ceux de la combinaison exacte (partenaires), "
        "sinon ceux des situations qui la comprennent ; « sans solution » n'est publié aux partenaires qu'à 60 km."
    )
    local_only: bool = strawberry.field(
        description="Seules les ressources locales sont comptées (pas les centres nationaux)."
    )
    separately: bool = strawberry.field(
        default=False,
        description="Les ressources qui accueillent chaque déficience séparément et les structures "
        "généralistes (CAMSP) sont comptées (sinon : la compétence sur la combinaison seulement).",
    )
    no_data: bool = strawberry.field(
        default=False,
        description="Aucune source n'établit de compétence locale pour cette combinaison : « pas de donnée ».",
    )
    population_group: str | None = strawberry.field(
        default=None,
        description="Avec un âge : la tranche d'âge dont les habitants sont comptés (« 0-17 ans », "
        "« 16-25 ans », « 18 ans et plus » ; INSEE 2021 par département) ; null : tous les habitants.",
    )
    national_centres: list[NationalCentre] = strawberry.field(
        description="Les centres nationaux de ressources comptés là où ils se trouvent."
    )
    national: TerritoryCoverage
    territories: list[TerritoryCoverage]


@strawberry.type(description="Un centre national de ressources handicaps rares compté dans la couverture.")
class NationalCentre:
    code: str
    name: str
    department: str


@strawberry.type
class GapCell:
    criterion: str
    combination: str
    share_beyond: float
    population_beyond: int
    resources: int
    zone_blanche: bool
    without_solution: int | None
    no_data: bool = strawberry.field(
        default=False, description="« Pas de donnée » pour ce critère (aucune source)."
    )
    without_solution_published: bool = strawberry.field(
        description="false : « sans solution » n'est pas publié pour cette demande (partenaires : seuil autre que 60 km)."
    )


@strawberry.type
class GapRow:
    code: str
    name: str
    cells: list[GapCell]


@strawberry.type
class GapCriterion:
    code: str
    label: str
    combination: str


@strawberry.type
class GapMatrix:
    level: Level
    threshold_km: float
    criteria: list[GapCriterion]
    territories: list[GapRow]


@strawberry.input(description="Ressource hypothétique : commune et déficiences couvertes.")
class AdditionInput:
    commune: str
    deficiencies: list[str]


@strawberry.type
class TerritoryDelta:
    code: str
    name: str
    before: TerritoryCoverage
    after: TerritoryCoverage
    population_gained: int


@strawberry.type
class WhatIfResult:
    combination: str
    national_before: TerritoryCoverage
    national_after: TerritoryCoverage
    changes: list[TerritoryDelta]


@strawberry.type
class Hub:
    kind: str
    key: str
    name: str
    degree: int
    degree_centrality: float
    betweenness: float


@strawberry.type
class Bridge:
    inside: str
    outside: str
    outside_erhr: str
    weight: int


@strawberry.type
class NetworkInsights:
    territory: str
    resources: int
    links: int
    components: int
    largest_component: int
    hubs: list[Hub]
    isolated: list[str]
    bridges: list[Bridge]


def territory_coverage_wire(t: cov.TerritoryCoverage) -> TerritoryCoverage:
    return TerritoryCoverage(
        code=t.code,
        name=t.name,
        population=t.population,
        resources=t.resources,
        resources_per_100k=t.resources_per_100k,
        mean_km=t.mean_km,
        median_km=t.median_km,
        mean_minutes=t.mean_minutes,
        shares_beyond=[ShareBeyond(threshold_km=k, share=v) for k, v in sorted(t.share_beyond.items())],
        population_beyond=t.population_beyond,
        population_unreachable=t.population_unreachable,
        open_situations=t.open_situations,
        without_solution=t.without_solution,
        suppressed=t.suppressed,
        open_situations_published=t.open_published,
        without_solution_published=t.unmet_published,
        zone_blanche=t.zone_blanche,
        no_data=t.no_data,
    )


def coverage_wire(r: cov.CoverageResult) -> CoverageResult:
    return CoverageResult(
        combination=r.combination,
        level=Level(r.level.value),
        threshold_km=r.threshold_km,
        age=r.age,
        exact_combination_counts=r.exact_counts,
        local_only=r.local_only,
        separately=r.separately,
        no_data=r.no_data,
        population_group=r.population_group,
        national_centres=[NationalCentre(code=c, name=n, department=d) for c, n, d in r.national_centres],
        national=territory_coverage_wire(r.national),
        territories=[territory_coverage_wire(t) for t in r.territories],
    )


def gaps_wire(g: cov.GapMatrix) -> GapMatrix:
    return GapMatrix(
        level=Level(g.level.value),
        threshold_km=g.threshold_km,
        criteria=[GapCriterion(code=c, label=label, combination=combo) for c, label, combo in g.criteria],
        territories=[
            GapRow(
                code=code,
                name=name,
                cells=[
                    GapCell(
                        criterion=c.criterion,
                        combination=c.combination,
                        share_beyond=c.share_beyond,
                        population_beyond=c.population_beyond,
                        resources=c.resources,
                        zone_blanche=c.zone_blanche,
                        without_solution=c.without_solution,
                        without_solution_published=c.unmet_published,
                        no_data=c.no_data,
                    )
                    for c in cells
                ],
            )
            for code, name, cells in g.territories
        ],
    )


def what_if_wire(
    before: cov.CoverageResult, after: cov.CoverageResult, deltas: tuple[cov.TerritoryDelta, ...]
) -> WhatIfResult:
    return WhatIfResult(
        combination=before.combination,
        national_before=territory_coverage_wire(before.national),
        national_after=territory_coverage_wire(after.national),
        changes=[
            TerritoryDelta(
                code=d.code,
                name=d.name,
                before=territory_coverage_wire(d.before),
                after=territory_coverage_wire(d.after),
                population_gained=d.population_gained,
            )
            for d in deltas
        ],
    )


def network_wire(n: network.NetworkInsights) -> NetworkInsights:
    return NetworkInsights(
        territory=n.territory,
        resources=n.resources,
        links=n.links,
        components=n.components,
        largest_component=n.largest_component,
        hubs=[
            Hub(
                kind=h.kind.value,
                key=h.key,
                name=h.name,
                degree=h.degree,
                degree_centrality=h.degree_centrality,
                betweenness=h.betweenness,
            )
            for h in n.hubs
        ],
        isolated=list(n.isolated),
        bridges=[
            Bridge(inside=b.inside, outside=b.outside, outside_erhr=b.outside_erhr, weight=b.weight)
            for b in n.bridges
        ],
    )


# -- situations ------------------------------------------------------------------------
@strawberry.enum(description="Types de ressources pouvant recevoir une orientation.")
class ResourceRefKind(enum.Enum):
    ESTABLISHMENT = "Establishment"
    PROFESSIONAL = "Professional"
    RESOURCE_POLE = "ResourcePole"
    ERHR_TEAM = "ErhrTeam"
    CNRHR = "Cnrhr"


@strawberry.type
class Referral:
    id: str
    resource_kind: str
    resource_key: str
    resource_name: str
    date: str = strawberry.field(description="Date de la proposition (AAAA-MM-JJ).")
    outcome: str = strawberry.field(description="La note saisie.")
    status: str = strawberry.field(
        description="proposee, contactee, acceptee, refusee, liste_attente, accompagnement, cloturee."
    )
    status_label: str
    updated_on: str
    next_action_on: str | None = strawberry.field(
        description="Prochaine action (« à relancer » à cette date)."
    )
    reason: str | None = strawberry.field(description="Motif d'un refus.")
    history: list[ReferralStep]
    next_statuses: list[str] = strawberry.field(description="Les statuts où l'orientation peut passer.")


@strawberry.type(description="Un changement de statut d'une orientation.")
class ReferralStep:
    date: str
    status: str


@strawberry.type(description="Une orientation à relancer : sa prochaine action est due.")
class FollowUp:
    situation_id: str
    erhr: str
    referral: Referral


def referral_wire(r: Any) -> Referral:
    return Referral(
        id=r.id,
        resource_kind=r.resource_kind,
        resource_key=r.resource_key,
        resource_name=r.resource_name,
        date=r.date,
        outcome=r.outcome,
        status=r.status,
        status_label=r.status_label,
        updated_on=r.updated_on,
        next_action_on=r.next_action_on,
        reason=r.reason,
        history=[ReferralStep(date=d, status=st) for d, st in r.history],
        next_statuses=list(r.next_statuses),
    )


@strawberry.type(description="Situation pseudonyme (aucune donnée directement identifiante).")
class Situation:
    id: str
    age: int | None
    status: str
    opened_on: str | None
    erhr: str
    department: str
    commune: str | None
    combination: str | None
    conditions: list[str]
    needs: list[str]
    referrals: list[Referral]
    synthetic: bool


@strawberry.type
class SituationPage:
    total: int
    items: list[Situation]


def situation_wire(v: service.SituationView) -> Situation:
    return Situation(
        id=v.key,
        age=v.age,
        status=v.status,
        opened_on=v.opened_on,
        erhr=v.erhr,
        department=v.department,
        commune=v.commune,
        combination=v.combination,
        conditions=list(v.conditions),
        needs=list(v.needs),
        referrals=[referral_wire(r) for r in v.referrals],
        synthetic=v.synthetic,
    )


# -- directory (resources) ------------------------------------------------------------
@strawberry.enum(description="Types de ressources de l'annuaire.")
class DirectoryKind(enum.Enum):
    ESTABLISHMENT = "Establishment"
    PROFESSIONAL = "Professional"
    RESOURCE_POLE = "ResourcePole"
    ERHR_TEAM = "ErhrTeam"
    CNRHR = "Cnrhr"


@strawberry.input(description="Un territoire : département, région ou ERHR, et son code.")
class TerritoryInput:
    kind: Level
    code: str


@strawberry.input(
    description="Autour d'une commune (code INSEE), dans un rayon en km, sur sa propre terre (pas de mer à franchir)."
)
class NearInput:
    commune: str
    radius_km: float = 50.0


@strawberry.input(description="Filtres de l'annuaire ; tous s'appliquent ensemble.")
class ResourceFilter:
    kinds: list[DirectoryKind] | None = strawberry.field(
        default=None, description="Par défaut : établissements, professionnels, pôles ressources."
    )
    territory: TerritoryInput | None = None
    deficiencies: list[str] | None = strawberry.field(
        default=None, description="Compétent pour chacune (expertise ou accueil)."
    )
    conditions: list[str] | None = strawberry.field(
        default=None, description="Expertise sur chacune (code ORPHA ou nom)."
    )
    skills: list[str] | None = None
    near: NearInput | None = None
    open_only: bool = strawberry.field(default=True, description="Sans les établissements fermés au FINESS.")
    text: str | None = strawberry.field(default=None, description="Dans le nom (casse et accents ignorés).")


@strawberry.type(description="Une compétence d'une ressource et son origine.")
class ResourceCompetence:
    target_kind: str = strawberry.field(description="Deficiency, Skill, Combination ou Condition.")
    code: str
    label: str = strawberry.field(description="Le code en clair.")
    level: int
    link: str = strawberry.field(description="HAS_EXPERTISE (expertise) ou ACCEPTS (accueil).")
    source: str
    source_label: str
    age_band: str | None


@strawberry.type(description="Une ressource de l'annuaire (jamais une situation).")
class Resource:
    kind: DirectoryKind
    key: str
    name: str
    synthetic: bool
    closed: bool
    commune: str | None
    department: str | None
    region: str | None
    erhr: str | None
    lat: float | None
    lon: float | None
    distance_km: float | None = strawberry.field(
        description="Depuis la commune de « near » (null sans « near »)."
    )
    contact: Contact | None
    competences: list[ResourceCompetence]


@strawberry.type
class ResourceEdge:
    cursor: str
    node: Resource


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="Une page de l'annuaire (pagination à curseurs, style Relay).")
class ResourceConnection:
    total_count: int
    edges: list[ResourceEdge]
    page_info: PageInfo


def directory_filter(f: ResourceFilter | None) -> Any:
    from graph.directory import DIRECTORY_KINDS, DirectoryFilter, Near

    f = f or ResourceFilter()
    return DirectoryFilter(
        kinds=tuple(NodeKind(k.value) for k in f.kinds) if f.kinds else DIRECTORY_KINDS,
        territory=(territories.TerritoryKind(f.territory.kind.value), f.territory.code)
        if f.territory
        else None,
        deficiencies=tuple(f.deficiencies or ()),
        skills=tuple(f.skills or ()),
        conditions=tuple(f.conditions or ()),
        near=Near(f.near.commune, f.near.radius_km) if f.near else None,
        open_only=f.open_only,
        text=f.text or "",
    )


def resource_connection_wire(page: Any) -> ResourceConnection:
    edges = [
        ResourceEdge(
            cursor=cursor,
            node=Resource(
                kind=DirectoryKind(e.kind),
                key=e.key,
                name=e.name,
                synthetic=e.synthetic,
                closed=e.closed,
                commune=e.commune,
                department=e.department,
                region=e.region,
                erhr=e.erhr,
                lat=e.lat,
                lon=e.lon,
                distance_km=e.distance_km,
                contact=contact_wire(e.contact),
                competences=[
                    ResourceCompetence(
                        target_kind=c.target_kind,
                        code=c.code,
                        label=c.label,
                        level=c.level,
                        link=c.link,
                        source=c.source,
                        source_label=c.source_label,
                        age_band=c.age_band,
                    )
                    for c in e.competences
                ],
            ),
        )
        for e, cursor in zip(page.entries, page.cursors, strict=True)
    ]
    return ResourceConnection(
        total_count=page.total,
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
    )


# -- activity -------------------------------------------------------------------------
@strawberry.type
class Count:
    key: str
    count: int


@strawberry.type(
    description="Les chiffres d'une année d'une ERHR (ou nationaux) ; partenaires : effectifs sous la règle des petits effectifs, sans ventilation."
)
class ErhrActivity:
    territory: str
    year: int
    active_file: int | None = strawberry.field(
        description="Personnes de la file active (null : masqué, moins de 11)."
    )
    new_persons: int | None
    without_solution: int | None = strawberry.field(
        description="Ouvertes, sans orientation acceptée ni accompagnement."
    )
    with_rare_condition: int | None
    by_criterion: list[Count]
    by_combination: list[Count]
    by_age_band: list[Count]
    by_department: list[Count]
    referrals_by_status: list[Count]
    median_days_to_acceptance: float | None
    suppressed: bool


@strawberry.type(
    description="L'activité d'un pôle ressources handicap sur une période, et sa file active par ETP (cible : 30)."
)
class PoleActivity:
    pole: str
    name: str
    department: str | None
    erhr: str | None
    period: str
    active_file: int | None
    families: int | None
    appointments: int
    awareness_actions: int
    fte: float
    per_fte: float | None
    meets_target: bool | None = strawberry.field(
        description="File active par ETP ≥ 30 (circulaire Cnaf 2019-003)."
    )
    synthetic: bool
    suppressed: bool


def _counts(d: dict[str, int]) -> list[Count]:
    return [Count(key=k, count=v) for k, v in d.items()]


def erhr_activity_wire(a: Any) -> ErhrActivity:
    return ErhrActivity(
        territory=a.territory,
        year=a.year,
        active_file=a.active_file,
        new_persons=a.new_persons,
        without_solution=a.without_solution,
        with_rare_condition=a.with_rare_condition,
        by_criterion=_counts(a.by_criterion),
        by_combination=_counts(a.by_combination),
        by_age_band=_counts(a.by_age_band),
        by_department=_counts(a.by_department),
        referrals_by_status=_counts(a.referrals_by_status),
        median_days_to_acceptance=a.median_days_to_acceptance,
        suppressed=a.suppressed,
    )


def pole_activity_wire(r: Any) -> PoleActivity:
    return PoleActivity(
        pole=r.pole,
        name=r.name,
        department=r.department,
        erhr=r.erhr,
        period=r.period,
        active_file=r.active_file,
        families=r.families,
        appointments=r.appointments,
        awareness_actions=r.awareness_actions,
        fte=r.fte,
        per_fte=r.per_fte,
        meets_target=r.meets_target,
        synthetic=r.synthetic,
        suppressed=r.suppressed,
    )


@strawberry.type(
    description="Un jeune suivi qui atteint la fin des services pour enfants (pseudonyme seulement)."
)
class YoungPerson:
    key: str = strawberry.field(description="Identifiant pseudonyme de la situation.")
    age: int
    years_left: int = strawberry.field(
        description="Années avant 20 ans, la fin des services pour enfants (1 à 3)."
    )
    combination: str
    criterion: str = strawberry.field(description="Premier critère D312-194 de la combinaison, ou « autre ».")
    department: str
    erhr: str | None
    commune: str
    nearest_km: float | None = strawberry.field(
        description="Service pour adultes compétent pour la combinaison le plus proche (km) ; null : aucun sur sa terre."
    )
    within_reach: bool
    synthetic: bool


@strawberry.type(
    description="Les effectifs d'un territoire dans 1, 2 et 3 ans (cumulés) ; null : masqué (« < 11 »)."
)
class RadarRow:
    code: str
    name: str
    needing: list[int | None] = strawberry.field(description="Jeunes atteignant 20 ans dans 1, 2, 3 ans.")
    deficit: list[int | None] = strawberry.field(
        description="Parmi eux, ceux sans service pour adultes compétent à portée (déficit attendu) ; "
        "partenaires : publié au seuil de 60 km seulement."
    )
    withheld: bool


@strawberry.type(description="Radar de la transition vers l'âge adulte (voir le guide, page « Transition »).")
class TransitionRadar:
    level: Level
    threshold_km: float
    criterion: str | None
    as_of: str = strawberry.field(description="Date (AAAA-MM-JJ) à laquelle les âges sont calculés.")
    horizons: list[int]
    national: RadarRow
    territories: list[RadarRow]
    people: list[YoungPerson] = strawberry.field(
        description="Les jeunes à préparer (ERHR : son territoire ; GNCHR : tous ; partenaires : aucun)."
    )
    situations_followed: int
    synthetic: bool = strawberry.field(
        description="Construit à partir des situations synthétiques de démonstration."
    )
    capacities_known: bool = strawberry.field(
        description="false : aucune source importée ne déclare les capacités des services (le déficit compte les personnes)."
    )


@strawberry.input(description="Un service pour adultes hypothétique (simulation, rien n'est enregistré).")
class HypothesisInput:
    commune: str
    deficiencies: list[str]
    places: int | None = None


def radar_row_wire(r: radar_.RadarRow) -> RadarRow:
    return RadarRow(
        code=r.code, name=r.name, needing=list(r.needing), deficit=list(r.deficit), withheld=r.withheld
    )


def radar_wire(r: radar_.Radar) -> TransitionRadar:
    return TransitionRadar(
        level=Level(r.level.value),
        threshold_km=r.threshold_km,
        criterion=r.criterion,
        as_of=r.as_of,
        horizons=list(radar_.HORIZONS),
        national=radar_row_wire(r.national),
        territories=[radar_row_wire(t) for t in r.territories],
        people=[
            YoungPerson(
                key=p.key,
                age=p.age,
                years_left=p.years_left,
                combination=p.combination,
                criterion=p.criterion,
                department=p.department,
                erhr=p.erhr,
                commune=p.commune,
                nearest_km=p.nearest_km,
                within_reach=p.within_reach,
                synthetic=p.synthetic,
            )
            for p in r.people
        ],
        situations_followed=r.situations_followed,
        synthetic=r.synthetic,
        capacities_known=r.capacities_known,
    )
