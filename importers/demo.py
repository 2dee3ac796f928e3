"""``dihr demo``: a seeded SYNTHETIC network on the real geography.

Establishments, professionals, pôles ressources and situations are invented,
placed in communes drawn in proportion to their population. Every record
carries ``synthetic: true`` and a name saying *fictif*; synthetic FINESS
numbers start with ``00`` (no real department), so they can never collide
with a real establishment. The reference data (communes, ERHR, CNRHR) stays
real. Same seed, same network: running it twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from graph.activity import report_node
from graph.knowledge import knowledge_node
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, combination_key
from graph.rare import criterion_combinations
from graph.store import GraphStore, WriteSummary
from graph.territories import TerritoryTable
from graph.vocabulary import SKILLS
from importers.reference import combination_elements

__all__ = ["DemoReport", "generate_demo", "demo_is_loaded", "CATEGORIES"]

K, R = NodeKind, RelType


@dataclass(frozen=True, slots=True)
class Category:
    code: str  # FINESS categetab (shared FINESS.md §2)
    label: str
    age_min: int | None
    age_max: int | None
    accepts: tuple[str, ...]
    weight: float


CATEGORIES = (
    Category("182", "SESSAD", 0, 20, ("DI", "TSA", "DM", "DV", "DA"), 17),
    Category("183", "IME", 6, 20, ("DI", "TSA", "COMPORT"), 13),
    Category("190", "CAMSP", 0, 6, ("DI", "DM", "DV", "DA", "POLY"), 4),
    Category("188", "EEAP (polyhandicap)", 0, 20, ("POLY", "EPI"), 2),
    Category("194", "Institut pour déficients visuels", 3, 20, ("DV",), 1),
    Category("195", "Institut pour déficients auditifs", 3, 20, ("DA", "DYSPH"), 1),
    Category("196", "Institut d'éducation sensorielle sourd/aveugle", 3, 20, ("DA", "DV"), 0.5),
    Category("255", "MAS", 20, None, ("POLY", "DM", "DI", "EPI"), 7),
    Category("437", "FAM", 20, None, ("DI", "TSA", "DPSY", "COMPORT"), 8),
    Category("382", "Foyer de vie", 20, None, ("DI", "DPSY", "CEREB"), 8),
    Category("445", "SAMSAH", 20, None, ("DPSY", "DM", "CEREB", "DV", "DA"), 4),
)


@dataclass(frozen=True, slots=True)
class Profession:
    """What a (synthetic) professional of this profession may know: the
    deficiencies and skills of the trade, and only the combinations made of
    them (a braille transcriber is no deaf-blindness expert); ``age_max`` for
    paediatric trades (a paediatric neurologist does not see adults)."""

    name: str
    deficiencies: tuple[str, ...]
    skills: tuple[str, ...]
    age_min: int | None = None
    age_max: int | None = None


PROFESSIONS = (
    Profession("orthophoniste", ("DYSPH", "TSA", "DA"), ("CAA", "PECS", "MAKATON")),
    Profession("psychomotricien", ("DM", "POLY", "TSA"), ()),
    Profession("instructeur de locomotion", ("DV",), ("LOCOMOTION",)),
    Profession("avéjiste", ("DV",), ("AVJ",)),
    Profession("interprète LSF", ("DA",), ("LSF",)),
    Profession("neuropsychologue", ("CEREB", "EPI", "DI"), ()),
    Profession("éducateur spécialisé", ("DI", "TSA", "COMPORT"), ("TEACCH", "ABA", "BEHAVIOUR")),
    Profession("ergothérapeute", ("DM", "POLY"), ("TECH_AIDS", "EYE_GAZE")),
    Profession("transcripteur braille", ("DV",), ("BRAILLE",)),
    Profession("neuropédiatre", ("EPI", "MITO", "METAB", "NEURO", "DI"), (), 0, 18),
    Profession("guide-interprète en surdicécité", ("DA", "DV"), ("LSF_TACTILE",)),
)


# Rare combinations situations present (shapes from shared DOMAIN.md §4), with
# the skills they often need and a typical rare condition.
SITUATION_SHAPES = (
    (("DV", "TSA"), ("CAA", "TRANSITION"), None),
    (("DA", "DV"), ("LSF_TACTILE", "RESPITE"), "ORPHA:886"),
    (("DA", "DV"), ("LSF_TACTILE",), "ORPHA:138"),
    (("DI", "COMPORT"), ("BEHAVIOUR",), "ORPHA:739"),
    (("DI", "EPI"), ("CAA",), "ORPHA:33069"),
    (("DA", "DI"), ("LSF",), None),
    (("DYSPH", "TSA"), ("CAA", "PECS"), None),
    (("DM", "NEURO"), ("RESPITE",), "ORPHA:399"),
    (("DV", "DI"), ("TECH_AIDS",), None),
    (("POLY", "EPI"), ("EYE_GAZE",), "ORPHA:778"),
    (("DI", "MITO"), (), None),
    (("DM", "METAB"), (), None),
)

EXPERTISE_COMBINATIONS = tuple(
    sorted(
        {combination_key(list(codes)) for codes, _s, _c in SITUATION_SHAPES}
        | {criterion_combinations(c)[0] for c in ("1", "2", "3", "4", "5d")}
    )
)


def _combinations_within(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The demo's expertise combinations made only of these deficiencies."""
    return tuple(c for c in EXPERTISE_COMBINATIONS if set(c.split("+")) <= set(codes))


OUTCOMES = ("accompagnement mis en place", "en attente de place", "orientation refusée", "conseil donné")


@dataclass(frozen=True, slots=True)
class DemoReport:
    summary: WriteSummary
    establishments: int
    professionals: int
    poles: int
    situations: int


def demo_is_loaded(store: GraphStore) -> bool:
    return store.get_node(K.ESTABLISHMENT, "000000001") is not None


def generate_demo(
    store: GraphStore,
    *,
    seed: int = 2026,
    establishments: int = 2500,
    professionals: int = 5000,
    situations: int = 1200,
) -> DemoReport:
    """Write the synthetic network (see module doc) through the store."""
    rng = np.random.default_rng(seed)
    communes = [n for n in store.nodes(K.COMMUNE) if int(n.props.get("population", 0)) > 0]
    if not communes:
        from graph.errors import ReferenceDataError

        raise ReferenceDataError("Le référentiel est vide : lancez d'abord `dihr init`.")
    table = TerritoryTable(store)
    weights = np.array([float(n.props["population"]) for n in communes])
    weights /= weights.sum()

    def draw_communes(n: int) -> list[Node]:
        return [communes[i] for i in rng.choice(len(communes), size=n, p=weights)]

    follow = np.random.default_rng(seed + 1)  # follow-up, activity, knowledge: drawn apart
    nodes: list[Node] = []
    edges: list[Edge] = []
    for key in EXPERTISE_COMBINATIONS:
        for element in combination_elements(key):
            (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]

    cat_weights = np.array([c.weight for c in CATEGORIES])
    cat_weights /= cat_weights.sum()
    est_refs: list[NodeRef] = []
    est_by_department: dict[str, list[NodeRef]] = defaultdict(list)
    for i, (commune, cat_index) in enumerate(
        zip(
            draw_communes(establishments),
            rng.choice(len(CATEGORIES), size=establishments, p=cat_weights),
            strict=True,
        ),
        start=1,
    ):
        cat = CATEGORIES[cat_index]
        key = f"00{i:07d}"
        ref = NodeRef(K.ESTABLISHMENT, key)
        lat, lon = _jitter(rng, commune)
        props: dict[str, object] = {
            "name": f"{cat.label} fictif n° {i} — {commune.props['name']}",
            "category": cat.code,
            "category_label": cat.label,
            "commune": commune.key,
            "department": commune.props["department"],
            "lat": lat,
            "lon": lon,
            "synthetic": True,
        }
        if cat.age_min is not None:
            props["age_min"] = cat.age_min
        if cat.age_max is not None:
            props["age_max"] = cat.age_max
        nodes.append(Node(K.ESTABLISHMENT, key, props))
        edges.append(Edge(R.LOCATED_IN, ref, commune.ref))
        accepted = rng.choice(cat.accepts, size=min(len(cat.accepts), int(rng.integers(1, 4))), replace=False)
        for code in sorted(accepted):
            edges.append(
                Edge(
                    R.ACCEPTS,
                    ref,
                    NodeRef(K.DEFICIENCY, str(code)),
                    {"age_min": cat.age_min, "age_max": cat.age_max, "capacity": int(rng.integers(5, 60))},
                )
            )
        typical = [c for codes, _s, c in SITUATION_SHAPES if c and set(codes) <= set(cat.accepts)]
        if typical and rng.random() < 0.06:  # expertise on a rare condition its public often has
            edges.append(
                Edge(
                    R.HAS_EXPERTISE,
                    ref,
                    NodeRef(K.CONDITION, str(rng.choice(typical))),
                    {"level": int(rng.integers(1, 4))},
                )
            )
        known = _combinations_within(cat.accepts)
        if known and rng.random() < 0.12:
            combo = str(rng.choice(known))
            edges.append(
                Edge(R.HAS_EXPERTISE, ref, NodeRef(K.COMBINATION, combo), {"level": int(rng.integers(2, 4))})
            )
        if rng.random() < 0.3:
            skill = str(rng.choice(list(SKILLS)))
            edges.append(
                Edge(R.HAS_EXPERTISE, ref, NodeRef(K.SKILL, skill), {"level": int(rng.integers(1, 4))})
            )
        est_refs.append(ref)
        est_by_department[str(commune.props["department"])].append(ref)

    for i in range(1, professionals + 1):
        trade = PROFESSIONS[int(rng.integers(len(PROFESSIONS)))]
        key = f"PRO-{i:06d}"
        ref = NodeRef(K.PROFESSIONAL, key)
        props = {"profession": trade.name, "name": f"{trade.name} fictif n° {i}", "synthetic": True}
        if trade.age_max is not None:
            props.update(age_min=trade.age_min, age_max=trade.age_max)
        nodes.append(Node(K.PROFESSIONAL, key, props))
        edges.append(Edge(R.WORKS_AT, ref, est_refs[int(rng.integers(len(est_refs)))]))
        for code in rng.choice(
            trade.deficiencies, size=min(len(trade.deficiencies), int(rng.integers(1, 3))), replace=False
        ):
            edges.append(
                Edge(
                    R.HAS_EXPERTISE, ref, NodeRef(K.DEFICIENCY, str(code)), {"level": int(rng.integers(1, 4))}
                )
            )
        for code in trade.skills:
            if rng.random() < 0.6:
                edges.append(
                    Edge(R.HAS_EXPERTISE, ref, NodeRef(K.SKILL, code), {"level": int(rng.integers(1, 4))})
                )
        known = _combinations_within(trade.deficiencies)
        if known and rng.random() < 0.3:
            combo = str(rng.choice(known))
            edges.append(
                Edge(R.HAS_EXPERTISE, ref, NodeRef(K.COMBINATION, combo), {"level": int(rng.integers(2, 4))})
            )

    by_department: dict[str, list[Node]] = defaultdict(list)
    for commune in communes:
        by_department[str(commune.props["department"])].append(commune)
    poles = 0
    for dep in sorted(by_department):
        poles += 1
        seat = max(by_department[dep], key=lambda n: int(n.props["population"]))
        key = f"PRH-{dep}"
        ref = NodeRef(K.RESOURCE_POLE, key)
        lat, lon = _jitter(rng, seat)
        nodes.append(
            Node(
                K.RESOURCE_POLE,
                key,
                {
                    "name": f"Pôle ressources handicap fictif — {table.departments[dep].props['name']}",
                    "commune": seat.key,
                    "department": dep,
                    "lat": lat,
                    "lon": lon,
                    "age_min": 0,
                    "age_max": 17,
                    "synthetic": True,
                },
            )
        )
        edges.append(Edge(R.LOCATED_IN, ref, seat.ref))
        for code in ("DI", "TSA", "DM"):
            edges.append(Edge(R.HAS_EXPERTISE, ref, NodeRef(K.DEFICIENCY, code), {"level": 1}))

    for i, commune in enumerate(draw_communes(situations), start=1):
        codes, needed, condition = SITUATION_SHAPES[int(rng.integers(len(SITUATION_SHAPES)))]
        combo = combination_key(list(codes))
        for element in combination_elements(combo):
            (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
        key = f"SIT-{int(rng.integers(16**8)):08x}-{i}"
        ref = NodeRef(K.SITUATION, key)
        dep = str(commune.props["department"])
        erhr = table.erhr_of_department[dep]
        age = int(min(85, rng.gamma(2.0, 10.0)))
        status = "open" if rng.random() < 0.75 else "closed"
        opened = (
            f"{int(rng.integers(2023, 2027))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        )
        nodes.append(
            Node(
                K.SITUATION,
                key,
                {
                    "age": age,
                    "status": status,
                    "opened_on": opened,
                    "department": dep,
                    "erhr": erhr,
                    "synthetic": True,
                },
            )
        )
        edges += [
            Edge(R.LIVES_IN, ref, commune.ref),
            Edge(R.PRESENTS, ref, NodeRef(K.COMBINATION, combo)),
            Edge(R.FOLLOWED_BY, ref, NodeRef(K.ERHR_TEAM, erhr)),
        ]
        if condition:
            edges.append(Edge(R.HAS_CONDITION, ref, NodeRef(K.CONDITION, condition)))
        for skill in needed:
            edges.append(Edge(R.NEEDS, ref, NodeRef(K.SKILL, skill)))
        local = est_by_department.get(dep) or est_refs
        for _ in range(int(rng.integers(0, 3))):
            target = local[int(rng.integers(len(local)))]
            followed = _followed(
                follow, opened
            )  # synthetic follow-up (its own generator: the network is unchanged)
            edges.append(
                Edge(
                    R.REFERRED_TO,
                    ref,
                    target,
                    {"date": opened, "outcome": str(rng.choice(OUTCOMES)), **followed},
                    key=opened,
                )
            )

    pole_keys = [n.key for n in nodes if n.kind is K.RESOURCE_POLE]
    for period in ("2025", "2026"):
        for key in pole_keys:
            fte = float(follow.choice([0.5, 1.0, 1.5, 2.0, 3.0]))
            active = int(follow.integers(3, 110))
            report, link = report_node(
                key,
                period,
                active_file=active,
                families=max(1, active - int(follow.integers(0, 5))),
                appointments=int(active * follow.uniform(1.5, 4)),
                awareness_actions=int(follow.integers(0, 25)),
                fte=fte,
                synthetic=True,
            )
            nodes.append(report)
            edges.append(link)
    for i, item in enumerate(SYNTHETIC_KNOWLEDGE, start=1):
        node, about = knowledge_node(**item, key=f"SAV-DEMO-{i:02d}", synthetic=True)  # type: ignore[arg-type]
        nodes.append(node)
        edges += about

    # One element per identity: a repeated draw must not count as an update.
    unique_nodes = {(n.kind, n.key): n for n in reversed(nodes)}
    unique_edges = {(e.type, e.source, e.target, e.key): e for e in reversed(edges)}
    summary = store.upsert(list(unique_nodes.values())[::-1], list(unique_edges.values())[::-1])
    return DemoReport(summary, establishments, professionals, poles, situations)


_STEPS = ("contactee", "liste_attente", "acceptee", "accompagnement", "cloturee")


def _followed(rng: np.random.Generator, opened: str) -> dict[str, object]:
    """A synthetic referral's follow-up: a few steps forward (or a refusal), a few weeks apart."""
    from datetime import date, timedelta

    day = date.fromisoformat(opened)
    history = [f"{day.isoformat()}|proposee"]
    status = "proposee"
    if rng.random() < 0.2:
        day += timedelta(days=int(rng.integers(7, 60)))
        status = "refusee"
        history.append(f"{day.isoformat()}|refusee")
        return {
            "status": status,
            "proposed_on": opened,
            "updated_on": day.isoformat(),
            "history": history,
            "reason": "synthétique : pas de place disponible",
        }
    for step in _STEPS[: int(rng.integers(0, len(_STEPS) + 1))]:
        day += timedelta(days=int(rng.integers(5, 90)))
        status = step
        history.append(f"{day.isoformat()}|{step}")
    props: dict[str, object] = {
        "status": status,
        "proposed_on": opened,
        "updated_on": day.isoformat(),
        "history": history,
    }
    if status not in ("cloturee", "refusee"):
        props["next_action_on"] = (day + timedelta(days=int(rng.integers(7, 45)))).isoformat()
    return props


#: Synthetic knowledge items of the demo network (titles say so), about the
#: D312-194 combinations, a rare condition and skills.
SYNTHETIC_KNOWLEDGE: tuple[dict[str, object], ...] = (
    {
        "kind": "guide",
        "title": "Guide fictif : accompagner une personne sourdaveugle au quotidien",
        "about": ["DA+DV"],
        "author": "GNCHR (démonstration)",
        "link": "https://example.org/demo/guide-surdicecite",
    },
    {
        "kind": "formation",
        "title": "Formation fictive : communication tactile (LSF tactile)",
        "about": ["DA+DV", "LSF_TACTILE"],
        "author": "CNRHR (démonstration)",
    },
    {
        "kind": "aide_technique",
        "title": "Aide technique fictive en prêt : plage braille",
        "about": ["DV"],
        "available": True,
        "erhr": "NA",
        "author": "ERHR NA (démonstration)",
    },
    {
        "kind": "malle",
        "title": "Malle pédagogique fictive : déficience visuelle et autisme",
        "about": ["DV+TSA"],
        "available": False,
        "erhr": "NA",
        "author": "ERHR NA (démonstration)",
    },
    {
        "kind": "guide",
        "title": "Guide fictif : déficience visuelle et troubles du spectre de l'autisme",
        "about": ["DV+TSA"],
        "author": "GNCHR (démonstration)",
    },
    {
        "kind": "outil",
        "title": "Outil fictif : grille d'observation épilepsie et déficience intellectuelle",
        "about": ["DI+EPI"],
        "author": "CNRHR (démonstration)",
    },
    {
        "kind": "formation",
        "title": "Formation fictive : syndrome de Prader-Willi et comportements-problèmes",
        "about": ["ORPHA:739", "COMPORT"],
        "author": "GNCHR (démonstration)",
    },
    {
        "kind": "guide",
        "title": "Guide fictif : la communication alternative et augmentée (CAA)",
        "about": ["CAA"],
        "author": "GNCHR (démonstration)",
    },
    {
        "kind": "formation",
        "title": "Formation fictive : déficience auditive et déficience intellectuelle",
        "about": ["DA+DI"],
        "author": "CNRHR (démonstration)",
    },
    {
        "kind": "aide_technique",
        "title": "Aide technique fictive en prêt : synthèse vocale",
        "about": ["DYSPH", "CAA"],
        "available": True,
        "erhr": "ARA",
        "author": "ERHR ARA (démonstration)",
    },
)


def _jitter(rng: np.random.Generator, commune: Node) -> tuple[float, float]:
    """A point a little off the commune's centroid (synthetic addresses)."""
    lat = float(commune.props["lat"]) + float(rng.normal(0, 0.01))
    lon = float(commune.props["lon"]) + float(rng.normal(0, 0.014))
    return round(lat, 5), round(lon, 5)
