"""The built book, opened page by page in headless Chromium (Selenium + Debian's chromedriver).

Fails, listing every problem of every page at once, on:

* a JavaScript console error;
* an image that does not load (``naturalWidth == 0``);
* math that MathJax did not typeset;
* an exercise solution visible before its toggle is clicked (or still hidden after);
* an explorer without its static figure (a widget the page cannot show, or a figure that does
  not load), counted against the explorers of the executed notebook;
* a search for "valence" that finds nothing;
* a page wider than the 1280 px viewport.

It saves a screenshot of every page to ``book/_build/screenshots/`` (``EMOLAB_SCREENSHOTS``
overrides the folder); CI uploads that folder.  ``EMOLAB_BOOK_HTML=book/_build/html`` checks an
existing build instead of building the book first.  If the browser cannot start, the test fails
with the commands that install it: it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 900
INSTALL = ("install the browser and its driver: `sudo apt-get install chromium chromium-driver` "
           "(Debian; .ci/run does this), and Selenium: `pip install -e '.[test]'`")  # fmt: skip
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}


def _find(*names: str) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


@pytest.fixture(scope="module")
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"Selenium is not installed ({exc}); {INSTALL}")
    browser = _find("chromium", "chromium-browser", "google-chrome")
    chromedriver = _find("chromedriver")
    if browser is None or chromedriver is None:
        pytest.fail(f"no Chromium ({browser}) or chromedriver ({chromedriver}) on PATH; {INSTALL}")
    options = Options()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--allow-file-access-from-files"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        d = webdriver.Chrome(options=options, service=Service(chromedriver))
    except Exception as exc:  # WebDriverException and OSError alike
        pytest.fail(f"Chromium did not start ({type(exc).__name__}: {str(exc).strip()[:300]}); {INSTALL}")
    d.set_page_load_timeout(60)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def html_dir(request) -> Path:
    given = os.environ.get("EMOLAB_BOOK_HTML")
    if given:
        path = Path(given).resolve()
        assert (path / "index.html").is_file(), f"EMOLAB_BOOK_HTML={given}: no index.html there"
        return path
    _, report = request.getfixturevalue("built_book")
    return report.html_dir


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if not SKIP_DIRS & set(p.relative_to(html).parts))


def _expected_explorers(html: Path, page: Path) -> int:
    """Explorers in the executed notebook behind ``page`` (0 for pages that are not notebooks)."""
    nb = html.parent.parent / page.relative_to(html).with_suffix(".ipynb")
    if not nb.is_file():
        return 0
    cells = json.loads(nb.read_text())["cells"]
    return sum('class="emolab-explorer"' in "".join(o.get("data", {}).get("text/html", ""))
               for c in cells for o in c.get("outputs", []))  # fmt: skip


def _wait(driver, script: str, timeout: float = 20.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    return driver.execute_script(script)


def _check_page(driver, page: Path, html: Path, shots: Path) -> list[str]:
    from selenium.webdriver.common.by import By

    name = str(page.relative_to(html))
    problems = []
    driver.get(page.as_uri())
    _wait(driver, "return document.readyState === 'complete'")
    if driver.execute_script("return document.querySelectorAll('.math').length"):
        _wait(driver, "return window.MathJax && MathJax.startup && MathJax.startup.document "
                      "&& document.querySelectorAll('mjx-container').length > 0")  # fmt: skip
        driver.execute_script("return MathJax.startup.promise")
        untypeset = driver.execute_script(
            "return [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')"
            " && !e.closest('mjx-container')).length")  # fmt: skip
        if untypeset:
            problems.append(f"{name}: {untypeset} formula(s) not typeset by MathJax")
    broken = driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => (i.getAttribute('src') || '').slice(0, 80))")  # fmt: skip
    problems += [f"{name}: image does not load: {src}" for src in broken]
    expected = _expected_explorers(html, page)
    shown = driver.execute_script(
        "return [...document.querySelectorAll('figure.emolab-explorer img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length")  # fmt: skip
    if shown != expected:
        problems.append(f"{name}: {shown} explorer figure(s) shown, the notebook has {expected}")
    widgets = driver.execute_script(
        "return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length")
    if widgets:
        problems.append(f"{name}: {widgets} widget(s) with no static figure (they need a kernel)")
    for cell in driver.find_elements(By.CSS_SELECTOR, ".tag_solution"):
        body = cell.find_elements(By.CSS_SELECTOR, ".cell_input pre, .cell_output")
        if any(b.is_displayed() for b in body):
            problems.append(f"{name}: an exercise solution is visible without a click")
            continue
        toggles = cell.find_elements(By.CSS_SELECTOR, "summary, button.toggle-button")
        if not toggles:
            problems.append(f"{name}: a hidden solution has no toggle to show it")
            continue
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", toggles[0])
        time.sleep(0.3)
        if not any(b.is_displayed() for b in cell.find_elements(By.CSS_SELECTOR, ".cell_input pre")):
            problems.append(f"{name}: a solution's toggle does not show it")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"{name}: the page is {overflow} px wider than the {WIDTH} px viewport")
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 12000)")
    driver.set_window_size(WIDTH, max(HEIGHT, height))
    driver.save_screenshot(str(shots / (name.replace("/", "__").removesuffix(".html") + ".png")))
    driver.set_window_size(WIDTH, HEIGHT)
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            problems.append(f"{name}: console error: {entry.get('message', '')[:300]}")
    return problems


@pytest.mark.slow
def test_every_page_in_a_browser(driver, html_dir):
    shots = Path(os.environ.get("EMOLAB_SCREENSHOTS", ROOT / "book" / "_build" / "screenshots"))
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    start = time.perf_counter()
    pages = _pages(html_dir)
    assert len(pages) > 3, f"only {len(pages)} pages in {html_dir}"
    problems = [p for page in pages for p in _check_page(driver, page, html_dir, shots)]
    print(f"checked {len(pages)} pages in {time.perf_counter() - start:.1f} s; screenshots in {shots}")
    assert not problems, f"{len(problems)} problem(s) in the built book:\n  " + "\n  ".join(problems)


@pytest.mark.slow
def test_search_finds_valence(driver, html_dir):
    driver.get((html_dir / "search.html").as_uri() + "?q=valence")
    hits = _wait(driver, "return document.querySelectorAll('#search-results li, ul.search li').length", 30)
    log = [e["message"][:200] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert hits, f"searching the book for 'valence' found nothing (console: {log})"
    assert not log, f"console errors on the search page: {log}"
