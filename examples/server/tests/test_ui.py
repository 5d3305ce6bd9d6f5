# The kiosk page in headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
# it is served at GET /, a question typed into it gets a streamed answer (the bubble's text is seen
# growing while the answer is still streaming), and a second turn continues the conversation on the
# session that holds the first (the server reports the reused prefix).
import os
import shutil
import time

import pytest

from conftest import smollm2

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (.ci/steps/55-server-ui.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    yield driver
    driver.quit()


def test_kiosk_page_streams_an_answer(start_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    server = start_server(smollm2())
    browser.get(server.url + "/")
    model = browser.find_element(By.ID, "model")
    end = time.time() + 10
    while model.text in ("", "…") and time.time() < end:
        time.sleep(0.05)
    assert model.text == os.path.basename(server.model)

    def ask(question):
        n_before = len(browser.find_elements(By.CSS_SELECTOR, ".msg.assistant"))
        box = browser.find_element(By.ID, "input")
        box.send_keys(question)
        box.send_keys(Keys.ENTER)
        seen = []  # the bubble's texts while it is still streaming
        end = time.time() + 120
        while time.time() < end:
            bubbles = browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")
            if len(bubbles) > n_before:
                b = bubbles[-1]
                cls, text = b.get_attribute("class"), b.text
                if "streaming" not in cls:
                    return text, seen
                if text and (not seen or seen[-1] != text):
                    seen.append(text)
            time.sleep(0.01)
        raise AssertionError("no answer within 120 s")

    q1 = "Name three planets."
    answer, seen = ask(q1)
    assert answer.strip()
    assert len(seen) >= 2 and all(answer.startswith(s) for s in seen), seen  # it grew piece by piece
    assert not browser.find_elements(By.CSS_SELECTOR, ".msg.error")
    assert browser.execute_script("return messages.length;") == 3  # system, question, answer
    answer2, _ = ask("Which one is the largest?")
    assert answer2.strip()
    assert browser.execute_script("return messages.length;") == 5
    assert any("cached=" in line and "cached=0 " not in line for line in server.log[-3:]), server.log[-3:]
