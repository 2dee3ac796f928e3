"""Every page, as each role reads it, on the real national FINESS register
alone (no demo): on a 390 px phone in Chromium, no code of the vocabularies,
no ISO date, no English word, no API argument name, nothing wider than the
screen and no table cell narrower than four characters."""

from __future__ import annotations

import re
import shutil
from datetime import date

import pytest

from graph.access import SYSTEM, Role, create_key
from graph.casework import create_situation
from graph.model import NodeKind, RelType
from graph.stores.memory import MemoryStore
from importers.finess import import_finess
from tests.api.conftest import CHROMIUM
from tests.conftest import served
from tests.test_real_register import REAL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: `make test` installs it"),
    pytest.mark.skipif(not REAL.is_file(), reason=f"the real FINESS register is not at {REAL}"),
]

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
#: English a French page must not show (programming words included).
ENGLISH = {
    "the",
    "and",
    "with",
    "from",
    "None",
    "null",
    "undefined",
    "True",
    "False",
    "NaN",
    "Error",
    "Traceback",
    "Search",
    "Directory",
    "Coverage",
    "Referral",
    "Establishment",
    "Professional",
    "Warning",
}
#: The API's argument names and permission codes (the pages name their own fields).
API_WORDS = {
    "radiusKm",
    "deficiencies",
    "minLevel",
    "includeClosed",
    "erhrCode",
    "ageMin",
    "ageMax",
    "situations:read",
    "situations:write",
    "coverage:read",
    "directory:read",
}


def raw_codes() -> set[str]:
    """Codes of the vocabularies a person must never read as such."""
    from graph import vocabulary

    codes = {r.value for r in RelType} | {k.value for k in NodeKind}
    codes |= {"COMBINATION", "ALL_DEFICIENCIES", "SEPARATELY", "PARTIAL", "TERRITORIAL", "LOCAL"}
    codes -= {"Commune", "Situation", "Condition"}  # French words too
    # skills written in capitals with an underscore or longer than an acronym (CAA, LSF are French)
    codes |= {c for c in vocabulary.SKILLS if not c.isupper() or len(c) > 6 or "_" in c}
    return codes


@pytest.fixture(scope="module")
def register(reference_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("real-pages")
    shutil.copytree(reference_dir, data, dirs_exist_ok=True)
    store = MemoryStore(data)
    assert import_finess(store, REAL).created > 12_000
    keys = {
        "erhr": create_key(store, Role.ERHR.value, territory="NA", label="parcours ERHR")[1],
        "gnchr": create_key(store, Role.GNCHR.value, label="parcours GNCHR")[1],
        "partner": create_key(store, Role.PARTNER.value, label="parcours partenaire")[1],
    }
    situation = create_situation(
        store,
        SYSTEM,
        age=17,
        commune="86194",
        deficiencies=["DV", "TSA"],
        needs=["CAA"],
        opened_on=date.today().isoformat(),
    ).key
    resource = next(n.key for n in store.nodes(NodeKind.ESTABLISHMENT) if n.props.get("commune") == "86194")
    store.close()
    with served(data, DIHR_RATE_LIMIT_PER_MINUTE="100000") as url:
        yield url, keys, situation, resource


def pages(situation: str, resource: str) -> list[str]:
    return [
        "/",
        "/aide",
        "/recherche",
        "/recherche?d=DV&d=TSA&lieu=Poitiers&age=17&rayon=60&c=CAA",
        "/recherche?d=DA&d=DV&lieu=Ajaccio&rayon=100",
        "/recherche/fiche?d=DV&d=TSA&lieu=86194&age=17&rayon=60",
        "/recherche/fiche-famille?d=DV&d=TSA&lieu=86194&age=17&rayon=60",
        "/couverture",
        "/couverture?d=DA&d=DV&niveau=ERHR&seuil=60",
        "/couverture/manques",
        "/couverture/simulation?d=DA&d=DV&commune=Poitiers&niveau=ERHR&seuil=60",
        "/annuaire",
        "/annuaire?commune=Poitiers&rayon=20",
        f"/annuaire/etablissement/{resource}",
        "/situations",
        "/situations/a-relancer",
        f"/situations/{situation}",
        "/transition",
        "/activite",
        "/savoirs",
        "/qualite",
        "/page-inconnue",
    ]


#: Every table cell on screen at least four characters wide (its own font's « 0000 »).
NARROW_CELLS = """() => {
  const out = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    if (!cell.offsetParent || cell.closest('thead') && getComputedStyle(cell.closest('thead')).position === 'absolute') continue;
    const probe = document.createElement('span');
    probe.textContent = '0000';
    probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
    cell.appendChild(probe);
    const four = probe.getBoundingClientRect().width;
    probe.remove();
    if (cell.clientWidth + 0.5 < four) out.push(cell.textContent.trim().slice(0, 30));
  }
  return out.slice(0, 5);
}"""


@pytest.mark.parametrize("role", ["erhr", "gnchr", "partner"])
def test_every_page_reads_as_french_on_a_phone(register, browser, role):
    url, keys, situation, resource = register
    codes = raw_codes()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR", is_mobile=True)
    page = context.new_page()
    page.goto(f"{url}/connexion")
    page.get_by_label("Clé d'API").fill(keys[role])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    found: dict[str, list[str]] = {}
    for path in pages(situation, resource):
        response = page.goto(f"{url}{path}")
        assert response is not None and response.status < 500, (role, path, response and response.status)
        text = page.inner_text("body")
        words = set(re.findall(r"[A-Za-z_:]+", text))
        problems = sorted(words & codes) + sorted(words & ENGLISH) + sorted(words & API_WORDS)
        problems += ISO_DATE.findall(text)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 1:
            problems.append(f"{overflow} px plus large que l'écran")
        problems += [f"cellule étroite : {c!r}" for c in page.evaluate(NARROW_CELLS)]
        if problems:
            found[path] = problems
    context.close()
    assert found == {}, "\n".join(f"{role} {path}: {problems}" for path, problems in found.items())


def test_the_sweep_catches_what_it_looks_for(register, browser):
    """The checks of the sweep, on a page made to fail them."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_content(
        "<main><p>Ouvert le 2026-01-08, statut PARTIAL, radiusKm</p>"
        "<table><tr><td style='width:1ch;max-width:1ch;min-width:0;padding:0'>Rang</td>"
        "<td><div style='width:600px'>large</div></td></tr></table></main>"
    )
    text = page.inner_text("body")
    assert ISO_DATE.findall(text) == ["2026-01-08"]
    words = set(re.findall(r"[A-Za-z_:]+", text))
    assert "PARTIAL" in words & raw_codes() and "radiusKm" in words & API_WORDS
    assert page.evaluate(NARROW_CELLS) == ["Rang"]
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") > 1
    context.close()


def test_the_family_sheet_of_a_real_register_search_prints_on_a4_with_the_erhr_phone(register, browser):
    """Tours: the ERHR Centre-Val de Loire's phone comes from its FINESS record (the
    only ERHR whose public records give one); the sheet carries it, in plain French."""
    from tests.api.test_pages_browser import VOCABULARY_CODES

    url, keys, _situation, _resource = register
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{url}/connexion")
    page.get_by_label("Clé d'API").fill(keys["gnchr"])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    page.goto(f"{url}/recherche/fiche-famille?d=DV&d=TSA&c=CAA&age=12&lieu=Tours&rayon=60")
    text = page.locator("main").inner_text()
    assert "Votre premier contact" in text and "ERHR Centre-Val de Loire" in text
    first = text.index("Votre premier contact")
    assert "02 19 05 19 97" in text[first : first + 600]  # the ERHR's number, first
    assert "Que faire ensuite ?" in text
    assert re.search(VOCABULARY_CODES, text) is None, re.search(VOCABULARY_CODES, text)
    assert ISO_DATE.search(text) is None
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 less 15 mm margins, at 96 dpi
    assert (
        page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth") is False
    )
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and b"/MediaBox [0 0 595" in pdf
    context.close()
