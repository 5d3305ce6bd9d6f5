# The kiosk page in headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
# it is served at GET /, a question typed into it gets a streamed answer (the bubble's text is seen
# growing while the answer is still streaming), a second turn continues the conversation on the
# session that holds the first (the server reports the reused prefix), and Stop cancels an answer.
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

    # Every text the answer bubbles show, recorded in the page as it changes (polling from here
    # could miss the states of a fast answer).
    browser.execute_script("""
        window.__texts = [];
        new MutationObserver(() => {
            const b = [...document.querySelectorAll('.msg.assistant')].pop();
            if (b && b.classList.contains('streaming')) window.__texts.push(b.textContent);
        }).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});
    """)

    def ask(question):
        n_before = len(browser.find_elements(By.CSS_SELECTOR, ".msg.assistant"))
        browser.execute_script("window.__texts = [];")
        box = browser.find_element(By.ID, "input")
        box.send_keys(question)
        box.send_keys(Keys.ENTER)
        end = time.time() + 120
        while time.time() < end:
            bubbles = browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")
            if len(bubbles) > n_before and "streaming" not in bubbles[-1].get_attribute("class"):
                seen = [t for t in browser.execute_script("return window.__texts;") if t]
                return bubbles[-1].text, list(dict.fromkeys(seen))
            time.sleep(0.02)
        raise AssertionError("no answer within 120 s")

    q1 = "Name three planets."
    answer, seen = ask(q1)
    assert answer.strip()
    assert len(seen) >= 2 and all(answer.startswith(t.rstrip()) for t in seen), seen  # it grew piece by piece
    assert not browser.find_elements(By.CSS_SELECTOR, ".msg.error")
    assert browser.execute_script("return messages.length;") == 2  # the question and the answer
    answer2, _ = ask("Which one is the largest?")
    assert answer2.strip()
    assert browser.execute_script("return messages.length;") == 4
    assert any("cached=" in line and "cached=0 " not in line for line in server.log[-3:]), server.log[-3:]
    # Stop: the button aborts the fetch, and the server cancels the generation. The test adds the
    # server's ignore_eos to the page's request, so that the answer is still running when Stop is
    # pressed.
    browser.execute_script("""
        const fetch0 = window.fetch;
        window.fetch = (url, init) => {
            if (init && init.body) init.body = JSON.stringify({...JSON.parse(init.body), ignore_eos: true});
            return fetch0(url, init);
        };
    """)
    box = browser.find_element(By.ID, "input")
    box.send_keys("Count from one to five hundred, one number per line.")
    box.send_keys(Keys.ENTER)
    end = time.time() + 60
    while time.time() < end:
        b = browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")[-1]
        if "streaming" in b.get_attribute("class") and b.text:
            break
        time.sleep(0.01)
    assert server.health()["slots_processing"] == 1
    browser.find_element(By.ID, "send").click()
    assert server.wait_idle(5), "the generation went on after Stop"
    assert browser.find_element(By.ID, "send").text == "Send"
    assert any("client-left" in line for line in server.log[-3:]), server.log[-3:]
