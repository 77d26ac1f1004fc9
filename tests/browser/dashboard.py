"""Drives Accord's dashboard in headless Chromium (Debian's chromium and chromedriver, through
Selenium): signs in with the form, opens every page, uses the as-of picker, and saves a
screenshot of each page.

Usage: dashboard.py BASE_URL TOKEN SCREENSHOT_DIR [RECORDER_TOKEN [LAN_URL]]
With a recorder's token, it then signs in again as the recorder and records a meeting's segment
held through the form: preview, then record, then finds it on the meeting's page and at the top
of the trail; a refused input shows its error beside the field; a form posted from another
site writes nothing. With LAN_URL (the same server reached on a non-loopback address over
plain HTTP), it signs in there. It also pages through meetings,
filters the trail, and checks that pages fit a 1366 px screen and a 390 px phone.
Prints one JSON object a line: {"page": ..., "text": ..., "screenshot": ...}.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def main():
    base, token, shots = sys.argv[1], sys.argv[2], sys.argv[3]
    recorder = sys.argv[4] if len(sys.argv) > 4 else None
    lan = sys.argv[5] if len(sys.argv) > 5 else None
    os.makedirs(shots, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)

    def report(page):
        path = os.path.join(shots, f"{page}.png")
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, max(900, min(height + 100, 4000)))
        driver.save_screenshot(path)
        text = driver.find_element(By.TAG_NAME, "body").text
        print(json.dumps({"page": page, "text": text, "screenshot": path, "url": driver.current_url}), flush=True)

    def emit(page, text):
        print(json.dumps({"page": page, "text": text, "screenshot": "", "url": driver.current_url}), flush=True)

    def fits(page, width, height):
        """Whether the page shows without side-scrolling at this window size."""
        driver.set_window_size(width, height)
        driver.get(base + page)
        name = f"{page.strip('/').replace('/', '-')}-{width}px"
        driver.save_screenshot(os.path.join(shots, f"{name}.png"))
        wide = driver.execute_script("return document.documentElement.scrollWidth")
        inner = driver.execute_script("return window.innerWidth")
        emit(f"fits-{name}", "fits" if wide <= inner + 1 else f"overflows: {wide} > {inner}")
        driver.set_window_size(1280, 900)

    def head_seq():
        driver.get(base + "/trail?limit=1")
        return driver.find_element(By.CSS_SELECTOR, "table.cards tr:not(.head) td").text

    try:
        driver.get(base + "/meetings")
        report("login")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/upcoming"))
        report("after-sign-in")
        for page in ("upcoming", "timeline", "meetings", "decisions", "groups", "reports", "trail", "evaluation"):
            driver.get(base + "/" + page)
            report(page)
        # The as-of picker on the meetings page: as of 30 June 2019.
        driver.get(base + "/meetings")
        field = driver.find_element(By.NAME, "as_of")
        driver.execute_script("arguments[0].value = '2019-06-30';", field)
        driver.find_element(By.ID, "apply-axes").click()
        report("meetings-as-of-2019-06-30")
        # The timeline draws an SVG with one bar per meeting or segment at least.
        driver.get(base + "/timeline")
        bars = driver.find_elements(By.CSS_SELECTOR, "svg#timeline rect.confirmed, svg#timeline rect.tentative")
        print(json.dumps({"page": "timeline-bars", "text": str(len(bars)), "screenshot": "", "url": driver.current_url}), flush=True)
        # Script in a title never runs: no alert opens.
        alerts = driver.execute_script("return typeof window.__accord_xss === 'undefined' ? 'none' : 'ran'")
        print(json.dumps({"page": "xss", "text": alerts, "screenshot": "", "url": ""}), flush=True)
        # Paging: two meetings a page, then the next page.
        driver.get(base + "/meetings?limit=2")
        report("meetings-page-1")
        driver.find_element(By.ID, "next-page").click()
        WebDriverWait(driver, 30).until(lambda d: "after=" in d.current_url)
        report("meetings-page-2")
        # The trail, newest first, narrowed to one type.
        driver.get(base + "/trail")
        Select(driver.find_element(By.NAME, "type")).select_by_value("DecisionAdopted")
        driver.find_element(By.ID, "apply-filters").click()
        WebDriverWait(driver, 30).until(lambda d: "type=DecisionAdopted" in d.current_url)
        report("trail-decisions")
        # The evaluation: a chart beside each indicator.
        driver.get(base + "/evaluation")
        charts = driver.find_elements(By.CSS_SELECTOR, "section figure.chart svg")
        emit("evaluation-charts", str(len(charts)))
        for page in ("/reports", "/groups", "/upcoming", "/meetings"):
            fits(page, 1366, 768)
            fits(page, 390, 844)
        driver.get(base + "/favicon.ico")
        emit("favicon", "svg icon" if "<svg" in driver.page_source else driver.page_source[:200])
        if lan:
            # Signing in over plain HTTP on the office network's address.
            driver.delete_all_cookies()
            driver.get(lan + "/login")
            driver.find_element(By.ID, "token").send_keys(token)
            driver.find_element(By.ID, "sign-in").click()
            WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/upcoming"))
            report("lan-sign-in")
        if recorder:
            # A recorder records COP-4's first segment held, by form: preview, then record.
            driver.delete_all_cookies()
            driver.get(base + "/login")
            driver.find_element(By.ID, "token").send_keys(recorder)
            driver.find_element(By.ID, "sign-in").click()
            # Signed in once the browser lands on Upcoming (the cookie is set by then).
            WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/upcoming"))
            driver.get(base + "/record/MeetingHeld")
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.NAME, "occurred"))
            report("record-form")
            occurred = driver.find_element(By.NAME, "occurred")
            occurred.clear()
            occurred.send_keys("2021-11")
            Select(driver.find_element(By.NAME, "f.meeting")).select_by_value("mc-cop-4")
            Select(driver.find_element(By.NAME, "f.segment")).select_by_value("mc-cop-4.1")
            driver.find_element(By.NAME, "f.dates").send_keys("2021-11-01/2021-11-05")
            driver.find_element(By.ID, "preview-button").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "preview"))
            report("record-preview")
            driver.find_element(By.ID, "record").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "recorded"))
            report("record-done")
            # The change on the meeting's page and at the top of the trail.
            driver.get(base + "/meetings/mc-cop-4")
            report("meeting-after-record")
            driver.get(base + "/trail")
            report("trail-after-record")
            # A refused input: its error beside the field, nothing written.
            before = head_seq()
            driver.get(base + "/record/MeetingHeld")
            Select(driver.find_element(By.NAME, "f.meeting")).select_by_value("mc-cop-4")
            driver.find_element(By.NAME, "f.dates").send_keys("2021-13-40")
            driver.find_element(By.ID, "preview-button").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error, #error"))
            report("record-refused")
            emit("refused-wrote", "nothing" if head_seq() == before else "something")
            # From another site (a page of its own, not served by Accord), a form posted here.
            before = head_seq()
            driver.get("data:text/html,<p>elsewhere</p>")
            driver.execute_script("""
                const f = document.createElement('form');
                f.method = 'POST'; f.action = arguments[0] + '/record/MeetingCancelled';
                for (const [k, v] of [['f.meeting', 'mc-cop-4'], ['occurred', '2021-12'], ['csrf', 'guess'], ['action', 'record']]) {
                    const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
                }
                document.body.appendChild(f); f.submit();""", base)
            WebDriverWait(driver, 30).until(lambda d: d.current_url.startswith(base))
            report("cross-site-post")
            emit("cross-site-wrote", "nothing" if head_seq() == before else "something")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
