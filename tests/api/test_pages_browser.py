"""The pages in a real browser: Debian's Chromium driven by Playwright, and
axe-core (npm) run inside the same browser on every page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graph.access import create_key
from graph.model import NodeKind
from graph.stores.memory import MemoryStore
from tests.api.conftest import CHROMIUM
from tests.conftest import served

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed: `make test` installs Debian's chromium"
    ),
]


@pytest.fixture(scope="module")
def server(demo_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("pages")
    shutil.copytree(demo_dir, data, dirs_exist_ok=True)
    store = MemoryStore(data)
    keys = {
        name: create_key(store, role, territory=territory, label=f"browser {name}")[1]
        for name, role, territory in (("erhr", "erhr", "NA"), ("partner", "partner", None))
    }
    situation = next(n.key for n in store.nodes(NodeKind.SITUATION) if n.props["erhr"] == "NA")
    store.close()
    with served(data, DIHR_RATE_LIMIT_PER_MINUTE="100000") as url:
        yield url, keys, situation


def login(browser, url: str, key: str, *, bypass_csp: bool = False):
    """A signed-in page; ``bypass_csp`` only for injecting axe-core (an inline
    script the pages' policy rightly refuses): every other test runs under the CSP."""
    context = browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="fr-FR", bypass_csp=bypass_csp
    )
    page = context.new_page()
    page.goto(f"{url}/connexion")
    page.get_by_label("Clé d'API").fill(key)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    return context, page


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]]


def test_search_results_map_coverage_and_csv_export(server, browser):
    url, keys, _ = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = login(browser, url, keys["erhr"])
    refused: list[str] = []  # what the Content-Security-Policy blocked, in the page or its map frames
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    assert page.url.endswith("/recherche")
    page.get_by_label("Déficience visuelle grave (DV)").check()
    page.get_by_label("Troubles du spectre de l'autisme (TSA)").check()
    page.get_by_label("Communication alternative et augmentée (CAA)").check()
    page.get_by_label("Âge (années)").fill("17")
    page.get_by_label("Commune du lieu de vie (nom, code postal ou code INSEE)").fill("Poitiers")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert (
        "Ressources pour déficience visuelle grave, troubles du spectre de l'autisme — Poitiers"
        in page.title()
    )
    rows = page.locator("table tbody tr")
    assert rows.count() >= 3
    # the referents to call come first, with their role; the local rows in their tables below
    referents = page.locator("section.referents").inner_text()
    assert "centre national de ressources" in referents and "équipe relais du territoire" in referents
    assert (
        page.get_by_role("table", name="Ressources dans le rayon de 100 km, par ordre de pertinence").count()
        == 1
    )
    frame = page.frame_locator("iframe.map")
    frame.locator(".leaflet-container").wait_for(timeout=20_000)
    assert frame.locator(".leaflet-interactive").count() >= 3  # commune, radius, resources
    page.evaluate("document.getElementById('resultats').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / "recherche.png"), full_page=False)

    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter la fiche d'orientation (CSV)").click()
    csv_path = download.value.path()
    assert (
        Path(csv_path).read_text(encoding="utf-8").startswith("\ufeffrang;niveau;ressource")
    )  # BOM: French Excel

    page.get_by_role("link", name="Couverture territoriale").click()
    page.get_by_label("Déficience visuelle grave (DV)").check()
    page.get_by_label("Troubles du spectre de l'autisme (TSA)").check()
    page.get_by_label("Niveau territorial").select_option("REGION")
    page.get_by_role("button", name="Calculer la couverture").click()
    page.wait_for_load_state()
    assert page.locator("table tbody tr").count() == 18
    cov_frame = page.frame_locator("iframe.map")
    cov_frame.locator(".leaflet-container").wait_for(timeout=30_000)
    assert cov_frame.locator("path.leaflet-interactive").count() >= 18
    page.evaluate("document.getElementById('couverture').scrollIntoView()")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "couverture.png"), full_page=False)
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le tableau (CSV)").click()
    assert (
        Path(download.value.path()).read_text(encoding="utf-8").startswith("\ufeffcode;territoire;population")
    )

    page.get_by_role("link", name="Transition").click()
    page.get_by_label("Niveau territorial").select_option("REGION")
    page.get_by_role("button", name="Afficher le radar").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Jeunes à préparer, les plus urgents d'abord").count() == 1
    radar_frame = page.frame_locator("iframe.map")
    radar_frame.locator(".leaflet-container").wait_for(timeout=30_000)
    assert radar_frame.locator("path.leaflet-interactive").count() >= 1  # an ERHR: its own territory
    page.screenshot(path=str(ARTIFACTS / "transition.png"), full_page=False)
    assert refused == []  # the pages and maps work under their policies
    context.close()


def test_every_page_has_no_axe_violation(server, browser):
    url, keys, situation = server
    anonymous = browser.new_context(bypass_csp=True).new_page()
    pages = {"/": anonymous, "/connexion": anonymous}
    results = {}
    for path, page in pages.items():
        page.goto(f"{url}{path}")
        results[path] = axe_violations(page)
    context, page = login(browser, url, keys["erhr"], bypass_csp=True)
    page.goto(f"{url}/annuaire?type=Establishment&erhr=NA")
    resource_link = page.locator("table tbody a").first.get_attribute("href")
    for path in [
        "/recherche",
        "/recherche?d=DV&d=TSA&lieu=86194&age=17&rayon=100",
        "/recherche?d=DV&lieu=introuvable",
        "/recherche/fiche?d=DV&d=TSA&lieu=86194",
        "/couverture",
        "/couverture?d=DV&d=TSA&niveau=ERHR&seuil=60",
        "/couverture/manques?niveau=ERHR",
        "/couverture/simulation?d=DA&d=DV&commune=97101&niveau=ERHR&seuil=60",
        "/annuaire",
        resource_link,
        "/situations",
        f"/situations/{situation}",
        "/transition",
        "/transition?niveau=ERHR&critere=1&commune=86194&d=DA&d=DV&places=3",
    ]:
        page.goto(f"{url}{path}")
        results[path] = axe_violations(page)
    context.close()
    assert {path: v for path, v in results.items() if v} == {}


def test_keyboard_navigation_reaches_content_with_a_visible_skip_link(server, browser):
    url, keys, _ = server
    context, page = login(browser, url, keys["erhr"])
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"
    context.close()


def test_partner_sees_no_situation_page(server, browser):
    url, keys, situation = server
    context, page = login(browser, url, keys["partner"])
    assert page.url.endswith("/couverture")
    assert page.get_by_role("link", name="Situations").count() == 0
    response = page.goto(f"{url}/situations")
    assert response.status == 403 and "rôle" in page.content()
    response = page.goto(f"{url}/situations/{situation}")
    assert response.status == 403
    response = page.goto(f"{url}/recherche")
    assert response.status == 403
    context.close()


def test_session_cookie_is_httponly_and_strict(server, browser):
    url, keys, _ = server
    context, _page = login(browser, url, keys["erhr"])
    [cookie] = [c for c in context.cookies() if c["name"] == "dihr_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_forms_without_the_csrf_token_are_refused(server):
    import httpx

    url, keys, situation = server
    with httpx.Client(base_url=url, follow_redirects=False) as c:
        login_page = c.get("/connexion")
        import re

        token = re.search(r'name="csrf" value="([^"]+)"', login_page.text).group(1)
        c.post("/connexion", data={"cle": keys["erhr"], "csrf": token})
        forged = c.post(
            f"/situations/{situation}/orientation",
            data={"type": "ErhrTeam", "ressource": "NA", "date": "2026-11-20", "issue": "x", "csrf": "faux"},
        )
    assert forged.status_code == 403 and "CSRF" in forged.text


def test_axe_check_catches_an_inaccessible_page(browser):
    page = browser.new_context().new_page()
    page.set_content(
        '<html><head><title>x</title></head><body><img src="x.png"><input type="text"></body></html>'
    )
    ids = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "label", "html-has-lang"} <= ids


def _offline(context, url: str) -> list[str]:
    """Cut the network: every request to another host than the app fails (and is listed)."""
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(url):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return blocked


def test_graphiql_and_the_api_docs_render_with_the_network_cut(server, browser):
    url, keys, _ = server
    context, page = login(browser, url, keys["partner"])
    blocked = _offline(context, url)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{url}/graphql")
    page.wait_for_selector(".graphiql-container", timeout=15_000)
    page.locator(".graphiql-query-editor .CodeMirror").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("{ resources(first: 2) { totalCount } }")
    page.keyboard.press("Control+Enter")
    page.locator(".graphiql-response").filter(has_text="totalCount").wait_for(timeout=15_000)
    page.goto(f"{url}/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
    assert "dihr-graph" in page.inner_text(".swagger-ui .info")
    assert blocked == [] and refused == []
    context.close()


def test_no_page_shows_a_raw_code_or_an_english_label_and_all_fit_390_px(server, browser):
    """Every code of the vocabularies and relationship types, and the English
    names of kinds, searched in the text a person reads, on a 390 px screen."""
    from graph import vocabulary
    from graph.model import NodeKind, RelType

    url, keys, situation = server
    raw = (
        {r.value for r in RelType}
        | {k.value for k in NodeKind}
        | {
            "radiusKm",
            "deficiencies",
            "COMBINATION",
            "ALL_DEFICIENCIES",
            "SEPARATELY",
            "PARTIAL",
            "TERRITORIAL",
            "Establishment",
        }
    )
    raw -= {"Commune", "Situation", "Condition"}  # French words too
    raw |= {
        code for code in vocabulary.SKILLS if not code.isupper() or len(code) > 6
    }  # acronyms (CAA, LSF) are French
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR", is_mobile=True)
    page = context.new_page()
    page.goto(f"{url}/connexion")
    page.get_by_label("Clé d'API").fill(keys["erhr"])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    paths = [
        "/",
        "/recherche?d=DV&d=TSA&lieu=86194&rayon=100&c=CAA",
        "/couverture?d=DA&d=DV",
        "/couverture/manques",
        "/annuaire?commune=Poitiers&rayon=20",
        f"/situations/{situation}",
        "/situations",
        "/page-inconnue",
    ]
    page.goto(f"{url}/annuaire")
    first = page.locator("table tbody a").first.get_attribute("href")
    paths.append(first)
    for path in paths:
        page.goto(f"{url}{path}")
        text = page.inner_text("main")
        words = set(__import__("re").findall(r"[A-Za-z_]+", text))
        assert not (words & raw), (path, sorted(words & raw))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, (
            path,
            overflow,
        )  # nothing wider than the screen: tables scroll inside their box
    context.close()


def test_a_referral_made_from_a_result_and_followed_to_accepted(server, browser):
    url, keys, situation = server
    context, page = login(browser, url, keys["erhr"])
    page.goto(f"{url}/situations/{situation}")
    page.get_by_role("link", name="Rechercher des ressources pour cette situation").click()
    page.wait_for_load_state()
    assert "Recherche pour la situation" in page.inner_text("main")
    first = page.locator("table tbody tr").first
    name = first.locator("td").nth(1).inner_text().replace(" synthétique", "").strip()
    first.get_by_role("button", name="Orienter").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/situations/{situation}/orientation")
    assert "Orientation enregistrée (proposée)." in page.inner_text("main")
    row = page.locator("table tbody tr").filter(has_text=name).last
    assert "proposée" in row.inner_text()
    row.get_by_label("Nouveau statut").select_option(label="acceptée")
    row.get_by_role("button", name="Enregistrer").click()
    page.wait_for_load_state()
    assert "Orientation passée à « acceptée »." in page.inner_text("main")
    assert "acceptée" in page.locator("table tbody tr").filter(has_text=name).last.inner_text()
    context.close()


VOCABULARY_CODES = r"\b(DA|DV|DI|DM|TSA|POLY|EPI|DPSY|CEREB|DYSPH|COMPORT|CAA|RESPITE|TRANSITION|ORPHA:\d+)\b"


def test_the_family_sheet_prints_on_a4_in_plain_french(server, browser):
    """The sheet a family takes home: the ERHR first, places with what they do
    and their phone, « que faire ensuite », no code; on A4 nothing overflows the
    page, and the browser makes a PDF of it."""
    import re

    url, keys, _ = server
    context, page = login(browser, url, keys["erhr"])
    page.goto(f"{url}/recherche/fiche-famille?d=DV&d=TSA&c=CAA&age=17&lieu=86194&rayon=60")
    assert page.locator("h1").inner_text() == "Les interlocuteurs pour vous accompagner"
    text = page.locator("main").inner_text()
    assert "Votre premier contact" in text and "ERHR Nouvelle-Aquitaine" in text
    assert "Que faire ensuite ?" in text and "Téléphone" in text
    assert "communication alternative et augmentée" in text.lower()
    assert re.search(VOCABULARY_CODES, text) is None, re.search(VOCABULARY_CODES, text)
    assert re.search(r"\d{4}-\d{2}-\d{2}", text) is None  # French dates only
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 less 15 mm margins, at 96 dpi
    overflow = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert overflow is False
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and b"/MediaBox [0 0 595" in pdf  # A4 width in points
    context.close()


#: The guide's screenshot of each page (section anchor → the page as shown).
GUIDE_PAGES = [
    ("recherche", "/recherche?d=DV&d=TSA&lieu=86194&age=17&rayon=100&c=CAA"),
    ("fiche", "/recherche/fiche?d=DV&d=TSA&lieu=86194&age=17&rayon=100"),
    ("couverture", "/couverture?d=DA&d=DV&niveau=REGION&seuil=60"),
    ("manques", "/couverture/manques?niveau=ERHR"),
    ("simulation", "/couverture/simulation?d=DA&d=DV&commune=Poitiers&niveau=ERHR&seuil=60"),
    ("transition", "/transition?niveau=ERHR"),
    ("annuaire", "/annuaire?commune=Poitiers&rayon=30"),
    ("situations", "/situations"),
    ("a-relancer", "/situations/a-relancer"),
    ("activite", "/activite"),
    ("savoirs", "/savoirs"),
]


def test_the_guide_shows_each_page_as_the_browser_draws_it(server, browser):
    """Screenshots of the pages for the guide (``docs/aide.md``), taken here on the
    synthetic demo network; ``make screenshots`` copies them into ``docs/screenshots``."""
    import os

    from api.guide import GUIDE, GUIDE_CAPTURES

    url, keys, _situation = server
    out = ARTIFACTS / "guide"
    out.mkdir(parents=True, exist_ok=True)
    context, page = login(browser, url, keys["erhr"])
    for anchor, path in GUIDE_PAGES:
        page.goto(f"{url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.locator(f'a[href="/aide#{anchor}"]').count() == 1, path  # the page links to its section
        page.screenshot(path=str(out / f"{anchor}.jpg"), type="jpeg", quality=60, full_page=False)
        if os.environ.get("DIHR_UPDATE_SCREENSHOTS"):
            shutil.copy(out / f"{anchor}.jpg", GUIDE_CAPTURES / f"{anchor}.jpg")
    context.close()
    guide = GUIDE.read_text(encoding="utf-8")
    for anchor, _path in GUIDE_PAGES:  # each section shows its page
        assert f"(/aide/captures/{anchor}.jpg)" in guide, anchor
        assert (GUIDE_CAPTURES / f"{anchor}.jpg").is_file(), anchor
    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{url}/aide")
    drawn = anonymous.evaluate(
        "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 300).length"
    )
    assert drawn == len(GUIDE_PAGES)  # served to anyone, under the pages' policy
    anonymous.context.close()
