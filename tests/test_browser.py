"""A real browser (Debian's chromium, headless, via selenium + chromedriver) against ``xunwen serve``.

Also a small command to take the README's screenshot::

    python tests/test_browser.py --index index --query 监督 --out docs/screenshot.png
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


def test_server_is_waitress_with_security_headers(server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(server + "/?q=监督".replace("监督", "%E7%9B%91%E7%9D%A3")) as resp:
        assert resp.headers["Server"] == "xunwen"  # waitress's ident, not werkzeug's dev server
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def main(argv: list[str] | None = None) -> None:
    """Take a screenshot of the results page for a query against a served index."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--index", required=True, help="index directory (built from the sample if missing)")
    parser.add_argument("--query", default="监督")
    parser.add_argument("--out", default="docs/screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(Path(args.index).resolve(), port, Path(tmp) / "server.log", timeout=600)
        try:
            drv = make_driver(Path(tmp) / "profile", args.width, args.height)
            try:
                drv.get(f"http://127.0.0.1:{port}/")
                box = drv.find_element("id", "q")
                box.send_keys(args.query)
                old = drv.find_element("css selector", "html")
                box.submit()
                from selenium.webdriver.support import expected_conditions as ec
                from selenium.webdriver.support.ui import WebDriverWait

                WebDriverWait(drv, WAIT).until(ec.staleness_of(old))
                _wait_for(drv, "li.hit")
                drv.save_screenshot(args.out)
            finally:
                drv.quit()
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
