"""A real browser (Debian's chromium, headless, via selenium + chromedriver) against ``xunwen serve``.

Also a small command to take the README's screenshot::

    python tests/test_browser.py --index index --query 监督 --out docs/screenshot.png \
        --mobile-out docs/screenshot-mobile.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webutil import SOURCES, build_index, free_port, start_server, stop_server  # noqa: E402

CHROMIUM = os.environ.get("XUNWEN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("XUNWEN_CHROMEDRIVER", "/usr/bin/chromedriver")
# A real browser and server per module.
pytestmark = pytest.mark.slow

WAIT = 20  # seconds an element may take to appear: a bound, not an assertion about speed


def make_driver(profile: Path, width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
    """Start headless chromium with a fresh profile, driven through the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "--lang=zh-CN",
    ):
        opts.add_argument(arg)
    # An explicit driver path keeps Selenium Manager from trying to download one.
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def phone(drv, width: int = 390, height: int = 844) -> None:  # type: ignore[no-untyped-def]
    """Make the page see a phone's screen (headless windows cannot be narrower than 500 px)."""
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run ``xunwen serve`` over the test index on a free loopback port; yield its base URL."""
    base = tmp_path_factory.mktemp("browser")
    index_dir = build_index(tmp_path_factory.getbasetemp() / "web-corpus")
    port = free_port()
    proc = start_server(index_dir, port, base / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture
def driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    drv = make_driver(tmp_path / "profile")
    try:
        yield drv
    finally:
        drv.quit()


def _wait_for(drv, css: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _click_and_wait(drv, element, css: str):  # type: ignore[no-untyped-def]
    """Click a link and wait until the next page (not the old one) shows ``css``."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = drv.find_element("css selector", "html")
    element.click()
    WebDriverWait(drv, WAIT).until(ec.staleness_of(old))
    return _wait_for(drv, css)


def test_search_filter_sort_page_and_open_an_article(server: str, driver, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(server + "/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    box = driver.find_element(By.ID, "q")
    box.send_keys("监督")
    old = driver.find_element(By.TAG_NAME, "html")
    box.send_keys(Keys.ENTER)
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(ec.staleness_of(old))
    _wait_for(driver, "li.hit")

    # highlighted results
    marks = driver.find_elements(By.CSS_SELECTOR, "li.hit mark")
    assert marks and all(m.text and m.text in "监督 監督" for m in marks)
    assert any(m.text in ("监督", "監督") for m in marks)
    assert driver.find_element(By.ID, "q").get_attribute("value") == "监督"
    assert "共找到" in driver.find_element(By.CSS_SELECTOR, "h1.summary").text
    driver.save_screenshot(str(tmp_path / "results.png"))
    assert (tmp_path / "results.png").stat().st_size > 10_000

    # a source facet narrows the results to that source
    facet = next(
        a for a in driver.find_elements(By.CSS_SELECTOR, 'ul[data-facet="source"] a')
        if a.text.split()[0] == SOURCES[0]
    )
    _click_and_wait(driver, facet, "li.hit")
    sources = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.hit .source")}
    assert sources == {SOURCES[0]}
    assert driver.find_elements(By.CSS_SELECTOR, 'ul[data-facet="source"] a.on')

    # sort by newest
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, 'a[data-sort="newest"]'), "li.hit")
    dates = [t.get_attribute("datetime") for t in driver.find_elements(By.CSS_SELECTOR, "li.hit time")]
    assert len(dates) == 10 and dates == sorted(dates, reverse=True)
    first_page = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "li.hit h2 a")]

    # page 2 keeps the filter and the order
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, '.pager a[rel="next"]'), "li.hit")
    params = parse_qs(urlsplit(driver.current_url).query)
    assert params["page"] == ["2"] and params["sort"] == ["newest"] and params["source"] == [SOURCES[0]]
    second_page = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "li.hit h2 a")]
    assert second_page and not set(first_page) & set(second_page)
    more = [t.get_attribute("datetime") for t in driver.find_elements(By.CSS_SELECTOR, "li.hit time")]
    assert more[0] <= dates[-1]

    # open an article: highlighted text, metadata, link back
    title = driver.find_element(By.CSS_SELECTOR, "li.hit h2 a")
    expected = title.text
    _click_and_wait(driver, title, "article .body")
    assert urlsplit(driver.current_url).path.startswith("/article/")
    assert driver.find_element(By.CSS_SELECTOR, "article h1").text == expected
    assert driver.find_elements(By.CSS_SELECTOR, "article .body mark")
    assert SOURCES[0] in driver.find_element(By.CSS_SELECTOR, "dl.meta").text
    driver.save_screenshot(str(tmp_path / "article.png"))


def test_timeline_bar_click_narrows_to_a_month(server: str, driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server + "/?q=监督")
    _wait_for(driver, "figure.timeline svg a")
    bars = driver.find_elements(By.CSS_SELECTOR, "figure.timeline svg a")
    assert len(bars) == 6
    _click_and_wait(driver, bars[2], "li.hit")
    months = {t.get_attribute("datetime")[:7] for t in driver.find_elements(By.CSS_SELECTOR, "li.hit time")}
    assert months == {"2024-03"}
    assert driver.find_element(By.ID, "from").get_attribute("value") == "2024-03-01"


# Draw one character on a canvas in the page's own font stack; return its ink as rows of 0/1.
_GLYPH_JS = """
const ch = arguments[0], size = 48, c = document.createElement('canvas');
c.width = c.height = 64;
const g = c.getContext('2d');
g.fillStyle = '#fff'; g.fillRect(0, 0, 64, 64); g.fillStyle = '#000';
g.font = size + 'px ' + getComputedStyle(document.querySelector('h1')).fontFamily;
g.textBaseline = 'top'; g.fillText(ch, 8, 8);
const d = g.getImageData(0, 0, 64, 64).data, rows = [];
for (let y = 0; y < 64; y++) { let r = ''; for (let x = 0; x < 64; x++) r += d[(y * 64 + x) * 4] < 128 ? '1' : '0'; rows.push(r); }
return rows;
"""
# A private-use code point: no font draws it, so it shows what "no glyph" (tofu) looks like here.
_NO_GLYPH = "\ue000"


def _glyph(drv, ch: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(drv.execute_script(_GLYPH_JS, ch))


def _strokes(rows: tuple[str, ...]) -> int:
    """Most separate runs of ink on one row or column: a tofu box has at most 2, 督 has 4 or more."""
    cols = tuple("".join(r[x] for r in rows) for x in range(len(rows[0])))
    return max(len([run for run in line.split("0") if run]) for line in rows + cols)


def is_drawn(drv, ch: str) -> bool:  # type: ignore[no-untyped-def]
    """True when ``ch`` is drawn as a real glyph: ink, not the no-glyph box, and strokes inside."""
    rows, none = _glyph(drv, ch), _glyph(drv, _NO_GLYPH)
    return "1" in "".join(rows) and rows != none and _strokes(rows) >= 3


def test_chinese_is_drawn_not_tofu(server: str, driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server + "/")
    h1 = driver.find_element(By.CSS_SELECTOR, "h1").text
    han = [ch for ch in dict.fromkeys(h1) if "\u4e00" <= ch <= "\u9fff"]
    assert len(han) >= 6, h1
    # the check itself must be able to fail: the no-glyph character is not "drawn"
    assert not is_drawn(driver, _NO_GLYPH)
    shapes = {ch: _glyph(driver, ch) for ch in han}
    for ch in shapes:
        assert is_drawn(driver, ch), f"{ch!r} renders as tofu: install a CJK font (fonts-noto-cjk)"
    # tofu boxes all look alike; real glyphs do not
    assert len(set(shapes.values())) == len(shapes)
    # and a Han character is about one em wide, as CJK fonts draw it (a fallback box is not always)
    width = driver.execute_script(
        "const g = document.createElement('canvas').getContext('2d');"
        "g.font = '100px ' + getComputedStyle(document.querySelector('h1')).fontFamily;"
        "return [g.measureText('监督寻闻').width, g.measureText('\\ue000').width];")
    assert 360 <= width[0] <= 440, width


def test_suggestions_as_you_type(server: str, driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(server + "/")
    box = driver.find_element(By.ID, "q")
    box.send_keys("监")
    item = _wait_for(driver, "ul.suggestions li a")
    words = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "ul.suggestions li a")]
    assert "监督" in words and driver.find_element(By.ID, "q-suggestions").is_displayed()
    assert item.is_displayed()
    box.send_keys(Keys.ARROW_DOWN)
    focused = driver.switch_to.active_element
    assert focused.text == words[0]
    old = driver.find_element(By.TAG_NAME, "html")
    focused.send_keys(Keys.ENTER)
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(ec.staleness_of(old))
    assert parse_qs(urlsplit(driver.current_url).query)["q"] == [words[0]]


def test_region_map_tile_filters_to_its_province(server: str, driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server + "/?q=监督")
    svg = _wait_for(driver, "svg.region-map")
    assert svg.size["width"] > 200 and svg.size["height"] > 150
    tile = driver.find_element(By.CSS_SELECTOR, 'svg.region-map a[data-region="四川"]')
    _click_and_wait(driver, tile, "li.hit")
    assert parse_qs(urlsplit(driver.current_url).query)["region"] == ["四川"]
    regions = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.hit .region")]
    assert regions and all(r.startswith("四川") for r in regions)


def test_mobile_filters_before_results_and_labelled_years(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER}")
    drv = make_driver(tmp_path / "profile")
    phone(drv)
    try:
        drv.get(server + "/?q=监督")
        first_hit = _wait_for(drv, "li.hit")
        panel = drv.find_element(By.CSS_SELECTOR, "details.filters-panel")
        summary = panel.find_element(By.TAG_NAME, "summary")
        assert drv.execute_script("return window.innerWidth") <= 400
        # folded by the script on a narrow screen: one line, above the results
        assert panel.get_attribute("open") is None
        assert summary.is_displayed() and summary.location["y"] < first_hit.location["y"]
        assert summary.location["y"] < 400  # on the first screen
        summary.click()
        source = drv.find_element(By.CSS_SELECTOR, 'ul[data-facet="source"] a')
        assert source.is_displayed() and source.location["y"] < first_hit.location["y"]
        years = [e for e in drv.find_elements(By.CSS_SELECTOR, "figure.timeline .years span") if e.is_displayed()]
        assert [e.text for e in years] == ["2024"]
        drv.save_screenshot(str(tmp_path / "mobile.png"))
    finally:
        drv.quit()


def test_server_is_waitress_with_security_headers(server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(server + "/?q=监督".replace("监督", "%E7%9B%91%E7%9D%A3")) as resp:
        assert resp.headers["Server"] == "xunwen"  # waitress's ident, not werkzeug's dev server
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def main(argv: list[str] | None = None) -> None:
    """Take screenshots of the results page (desktop, and a 390 px phone) against a served index."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--index", required=True, help="index directory (built from the sample if missing)")
    parser.add_argument("--query", default="监督")
    parser.add_argument("--out", default="docs/screenshot.png")
    parser.add_argument("--mobile-out", default="docs/screenshot-mobile.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args(argv)
    from urllib.parse import quote

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(Path(args.index).resolve(), port, Path(tmp) / "server.log", timeout=600)
        try:
            url = f"http://127.0.0.1:{port}/?q={quote(args.query)}"
            drv = make_driver(Path(tmp) / "profile", args.width, args.height)
            try:
                drv.get(url)
                _wait_for(drv, "li.hit")
                drv.save_screenshot(args.out)
                if args.mobile_out:
                    phone(drv, 390, 1100)
                    drv.get(url)
                    _wait_for(drv, "li.hit")
                    drv.save_screenshot(args.mobile_out)
            finally:
                drv.quit()
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
