"""The GNCHR's knowledge: guides, trainings, tools, technical aids on loan and
awareness kits, each about deficiencies, combinations, rare conditions or
skills, offered beside the matches of a search and on a resource's page.

A knowledge item is a ``Knowledge`` node (national, or of one ERHR territory)
with ``ABOUT`` links. The GNCHR manages every item, an ERHR those of its
territory (``graph.service``).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graph.errors import InvalidInput
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, codes_of_combination, combination_key
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS, code_label

__all__ = ["Kind", "KIND_LABELS", "KnowledgeItem", "knowledge_node", "suggest", "list_knowledge", "item_of"]

K, R = NodeKind, RelType


class Kind(enum.StrEnum):
    GUIDE = "guide"
    TRAINING = "formation"
    TOOL = "outil"
    AID = "aide_technique"
    KIT = "malle"


KIND_LABELS = {
    Kind.GUIDE: "guide",
    Kind.TRAINING: "formation",
    Kind.TOOL: "outil",
    Kind.AID: "aide technique en prêt",
    Kind.KIT: "malle de sensibilisation",
}


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    key: str
    kind: str
    kind_label: str
    title: str
    summary: str
    link: str | None
    author: str
    erhr: str | None  # None: national
    available: bool | None  # aids and kits on loan: available now?
    about: tuple[tuple[str, str, str], ...]  # (target kind, code, French label)
    synthetic: bool


def _target(code: str) -> NodeRef:
    """A combination (« DV+TSA »), a rare condition (« ORPHA:739 », « 739 »), a skill or a deficiency."""
    text = code.strip().upper()
    if "+" in text:
        return NodeRef(K.COMBINATION, combination_key(text.split("+")))
    if text.startswith("ORPHA:") or text.isdigit():
        orpha = text if text.startswith("ORPHA:") else f"ORPHA:{text}"
        if orpha not in CONDITIONS:
            raise InvalidInput("sujets", f"maladie rare inconnue : {code.strip()[:20]}.")
        return NodeRef(K.CONDITION, orpha)
    if text in SKILLS:
        return NodeRef(K.SKILL, text)
    if text in DEFICIENCIES:
        return NodeRef(K.DEFICIENCY, text)
    raise InvalidInput(
        "sujets", f"code inconnu : « {code.strip()[:20]} » (déficience, combinaison, ORPHA ou compétence)."
    )


def knowledge_node(
    *,
    kind: str,
    title: str,
    summary: str = "",
    link: str | None = None,
    author: str = "",
    erhr: str | None = None,
    available: bool | None = None,
    about: Iterable[str] = (),
    key: str | None = None,
    synthetic: bool = False,
) -> tuple[Node, list[Edge]]:
    """A knowledge item and its ABOUT links, checked (title, kind, link, subjects)."""
    try:
        item_kind = Kind(kind.strip().lower())
    except ValueError:
        raise InvalidInput("type", "type attendu : " + ", ".join(k.value for k in Kind) + ".") from None
    if not 3 <= len(title.strip()) <= 200:
        raise InvalidInput("titre", "un titre de 3 à 200 caractères.")
    if link and not link.strip().startswith(("https://", "http://")):
        raise InvalidInput("lien", "une adresse web commençant par https://.")
    targets = sorted({_target(code) for code in about if code.strip()})
    if not targets:
        raise InvalidInput(
            "sujets",
            "au moins un sujet : une déficience, une combinaison, une maladie rare ou une compétence.",
        )
    props: dict[str, object] = {
        "type": item_kind.value,
        "title": title.strip(),
        "summary": summary.strip()[:2000],
        "author": author.strip()[:200],
        "synthetic": synthetic,
    }
    if link:
        props["link"] = link.strip()[:500]
    if erhr:
        props["erhr"] = erhr.strip().upper()
    if available is not None and item_kind in (Kind.AID, Kind.KIT):
        props["available"] = bool(available)
    node = Node(K.KNOWLEDGE, key or f"SAV-{secrets.token_hex(5)}", props)
    return node, [Edge(R.ABOUT, node.ref, t) for t in targets]


def item_of(node: Node, about: Sequence[NodeRef]) -> KnowledgeItem:
    p = node.props
    kind = Kind(p["type"]) if p.get("type") in set(Kind) else Kind.GUIDE
    return KnowledgeItem(
        key=node.key,
        kind=kind.value,
        kind_label=KIND_LABELS[kind],
        title=str(p.get("title", node.key)),
        summary=str(p.get("summary", "")),
        link=p.get("link"),
        author=str(p.get("author", "")),
        erhr=p.get("erhr"),
        available=p.get("available"),
        about=tuple((t.kind.value, t.key, code_label(t.kind.value, t.key)) for t in about),
        synthetic=bool(p.get("synthetic", False)),
    )


def _items(store: GraphStore) -> list[KnowledgeItem]:
    """Every knowledge item, read once per store revision (each search offers
    some: reading them per request was a tenth of its time)."""
    return list(read_model(store).cached("knowledge items", lambda: tuple(_read_items(store))))


def _read_items(store: GraphStore) -> list[KnowledgeItem]:
    nodes = list(store.nodes(K.KNOWLEDGE))
    links = store.edges_from([n.ref for n in nodes], [R.ABOUT]) if nodes else {}
    return [item_of(n, sorted(e.target for e in links.get(n.ref, []))) for n in nodes]


def list_knowledge(
    store: GraphStore,
    *,
    kind: str | None = None,
    about: str | None = None,
    erhr: str | None = None,
    text: str = "",
) -> list[KnowledgeItem]:
    """The knowledge page's list, filtered (type, a subject code, territory, words of the title)."""
    wanted = _target(about) if about else None
    needle = text.strip().lower()
    found = [
        i
        for i in _items(store)
        if (kind is None or i.kind == kind)
        and (erhr is None or i.erhr in (None, erhr))
        and (wanted is None or (wanted.kind.value, wanted.key) in {(k, c) for k, c, _l in i.about})
        and (not needle or needle in i.title.lower() or needle in i.summary.lower())
    ]
    return sorted(found, key=lambda i: (i.kind, i.title.lower(), i.key))


def suggest(
    store: GraphStore,
    deficiencies: Iterable[str],
    *,
    conditions: Iterable[str] = (),
    skills: Iterable[str] = (),
    erhr: str | None = None,
    limit: int = 8,
) -> tuple[KnowledgeItem, ...]:
    """What to offer beside the matches of a search: items about the combination
    (or one that includes it), its rare conditions, skills asked, then each of
    its deficiencies; national or of the person's territory; aids available first."""
    needs = frozenset(deficiencies)
    if not needs and not conditions and not skills:
        return ()
    wanted_conditions, wanted_skills = set(conditions), set(skills)

    def weight(item: KnowledgeItem) -> int | None:
        best = None
        for kind, code, _label in item.about:
            w = None
            if kind == K.COMBINATION.value and needs and needs <= codes_of_combination(code):
                w = 0 if codes_of_combination(code) == needs else 1
            elif kind == K.CONDITION.value and code in wanted_conditions:
                w = 2
            elif kind == K.SKILL.value and code in wanted_skills:
                w = 3
            elif kind == K.DEFICIENCY.value and code in needs:
                w = 4
            if w is not None and (best is None or w < best):
                best = w
        return best

    ranked = []
    for item in _items(store):
        if item.erhr not in (None, erhr):
            continue
        w = weight(item)
        if w is not None:
            ranked.append((w, item.available is False, item.title.lower(), item.key, item))
    ranked.sort(key=lambda r: r[:4])
    return tuple(r[4] for r in ranked[:limit])
