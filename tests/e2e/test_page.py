"""The analysts' page in headless Chromium (Debian's chromium and chromium-driver, installed
by scripts/chromium.sh): texts pasted, classified through the API, label, score, action and
the words that pushed each score shown.

`SCREENSHOT_TO=docs/images/analyst-page.png` also saves the page as the docs show it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.serve_process import KEY, Server, start_server

pytestmark = pytest.mark.e2e


def browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "run scripts/chromium.sh (make test does) to install Chromium"
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    yield chrome
    chrome.quit()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = start_server(tmp_path)
    yield started
    started.process.terminate()
    started.process.wait(30)


def test_an_analyst_classifies_pasted_texts_and_sees_why(
    server: Server, browser: webdriver.Chrome
) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.ID, "key").send_keys(KEY)
    browser.find_element(By.ID, "run").click()
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "status").text.endswith("classified")
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == 3
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert cells[1][0].startswith("Ignore all previous instructions")
    assert (cells[1][1], cells[1][3]) == ("malicious", "block")
    assert all(0.0 <= float(row[2]) <= 1.0 for row in cells)
    assert cells[1][4].startswith("prompt_injection ")  # the kind of harm that decided it
    assert "instructions +" in cells[1][5]
    target = os.environ.get("SCREENSHOT_TO")
    if target:
        browser.save_screenshot(target)


def test_a_wrong_key_is_shown_as_an_error(server: Server, browser: webdriver.Chrome) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.ID, "key").send_keys("not-the-key")
    browser.find_element(By.ID, "run").click()
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "status").text.startswith("Error")
    )
    assert "API key" in browser.find_element(By.ID, "status").text
