"""The demo page (`dllab serve` at /, `dllab demo`): self-contained, and it works in a real
browser. The browser test drives Debian's headless Chromium through its ChromeDriver (both
installed by .ci/run): it uploads a digit, draws one on the sketch pad, sends feedback and
keeps a screenshot."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .conftest import digit, png_b64, start_server

pytestmark = pytest.mark.xdist_group("serve")

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def server(serve_runs, tmp_path_factory):
    a, _ = serve_runs
    server = start_server(str(a), cwd=tmp_path_factory.mktemp("demo"))
    yield server
    server.stop()


def test_page_and_info_describe_the_served_model_and_fetch_nothing_from_elsewhere(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # no script, style, font or image from another host: the page must work offline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)
    assert "@import" not in page.text and "fonts.googleapis" not in page.text
    info = httpx.get(server.url + "/info").json()
    assert info["input"] == "image" and info["task"] == "classification"
    assert info["classes"] == [str(i) for i in range(10)]
    assert list(info["variants"]) == ["A"]


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver"
)
def test_browser_upload_drawing_and_feedback(server, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=900,1000")
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")  # not /tmp/org.chromium.*
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        wait = WebDriverWait(browser, 30)
        browser.get(server.url + "/")
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert browser.find_element(By.ID, "image-input").is_displayed()
        assert not browser.find_element(By.ID, "text-input").is_displayed()

        # an uploaded file gets the label the API gives the same bytes
        pixels = digit(3)
        upload = tmp_path / "digit.png"
        Image.fromarray(pixels).save(upload)
        expected = httpx.post(server.url + "/predict", json={"image": png_b64(pixels)}).json()
        browser.find_element(By.ID, "file").send_keys(str(upload))
        result = browser.find_element(By.ID, "result")
        wait.until(lambda b: result.get_attribute("data-top"))
        assert result.get_attribute("data-top") == expected["labels"][0]
        bars = result.find_elements(By.CLASS_NAME, "label")
        assert len(bars) == 5 and bars[0].text.startswith(expected["labels"][0])

        # a drawing on the pad is a new prediction with a new id
        first_id = browser.find_element(By.ID, "meta").text
        pad = browser.find_element(By.ID, "pad")
        strokes = ActionChains(browser).move_to_element_with_offset(pad, -40, -60)
        strokes.click_and_hold().move_by_offset(80, 0).move_by_offset(-60, 120).release()
        strokes.perform()
        browser.find_element(By.ID, "predict-pad").click()
        wait.until(lambda b: b.find_element(By.ID, "meta").text != first_id)
        assert browser.find_element(By.ID, "error").text == ""

        # feedback is recorded against that prediction
        browser.find_element(By.ID, "send-feedback").click()
        wait.until(lambda b: b.find_element(By.ID, "feedback-result").text)
        assert browser.find_element(By.ID, "feedback-result").text.startswith("recorded (A: ")

        shot = tmp_path / "demo.png"
        assert browser.save_screenshot(str(shot))
        with Image.open(shot) as img:
            assert img.width >= 800 and img.height >= 600
            assert len(img.convert("L").getcolors(2**16)) > 20  # a rendered page, not blank
        if keep := os.environ.get("DLLAB_KEEP_SCREENSHOT"):
            shutil.copy(shot, Path(keep))
    finally:
        browser.quit()
