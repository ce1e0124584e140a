"""Drives Nightshift's dashboard in headless Chromium (selenium), as a person would.

Usage: dashboard_test.py BASE_URL TOKEN RUN SCREENSHOT_DIR

RUN waits for an approval; the server (as a worker) continues it once approved.
The test signs in, finds the run in the runs table, opens it, sees the waiting call, approves it
from the page, and watches the timeline grow live until the run has finished; then the same page
at a phone's width. It asserts on the page's content, never on pixels, and saves a screenshot of
each (desktop.png, phone.png). Exit status 0 when everything held; otherwise the failure is
printed and the status is 1.
"""

import sys
import traceback

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def sign_in(driver, base, token):
    driver.get(base + "/dashboard/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    # The sign-in page has an h1 too: wait for the runs page itself.
    WebDriverWait(driver, 20).until(seen.presence_of_element_located((By.ID, "runs")))
    if "Runs" not in driver.find_element(By.TAG_NAME, "h1").text:
        raise AssertionError("sign-in did not reach the runs page: " + driver.page_source[:500])


def main():
    base, token, run, shots = sys.argv[1:5]
    driver = browser(1280, 900)
    try:
        # A wrong token is refused, and says so.
        driver.get(base + "/dashboard/login")
        driver.find_element(By.ID, "token").send_keys("nst_wrong")
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        problem = WebDriverWait(driver, 20).until(seen.presence_of_element_located((By.CLASS_NAME, "problem")))
        assert "not one Nightshift makes" in problem.text, problem.text

        sign_in(driver, base, token)
        link = driver.find_element(By.LINK_TEXT, run)
        link.click()
        WebDriverWait(driver, 20).until(seen.presence_of_element_located((By.ID, "decide")))
        assert driver.find_element(By.ID, "status").text == "paused"
        # The agent's text is shown as text: the planted markup is not an element of the page.
        assert not driver.find_elements(By.CSS_SELECTOR, "img[src='x']"), "agent markup became an element"
        assert "<img src=x" in driver.find_element(By.CSS_SELECTOR, "#decide pre").text
        # The live stream is open before the decision, so what follows arrives on it.
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "live").is_displayed())
        events_before = len(driver.find_elements(By.CSS_SELECTOR, "#timeline li"))

        driver.find_element(By.ID, "approve").click()
        # Back on the run's page (a new load), the server continues the run: the timeline grows
        # live and the status ends as finished without a reload.
        WebDriverWait(driver, 60, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
            lambda d: d.find_element(By.ID, "status").text == "finished")
        kinds = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#timeline .kind")]
        assert "approval_decided" in kinds and "run_finished" in kinds, kinds
        assert len(kinds) > events_before, (len(kinds), events_before)
        assert not driver.find_elements(By.ID, "decide"), "the decided call is still offered"
        driver.save_screenshot(shots + "/desktop.png")

        # A phone's width: the same page, readable, nothing wider than the screen.
        driver.set_window_size(390, 844)
        driver.get(base + "/dashboard/runs/" + run)
        WebDriverWait(driver, 20).until(seen.presence_of_element_located((By.ID, "timeline")))
        assert driver.find_element(By.ID, "status").text == "finished"
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone's screen"
        # The finished run's charts are drawn: its spend, and a bar per step.
        assert driver.find_elements(By.CSS_SELECTOR, "svg#spend polyline.cost"), "no spend chart"
        assert driver.find_elements(By.CSS_SELECTOR, "svg#latency rect"), "no latency bars"
        driver.save_screenshot(shots + "/phone.png")
        driver.get(base + "/dashboard/inbox")
        assert "Nothing waits for a person." in driver.page_source
        # The agents page at the same width: the finished task is counted, the chart is drawn.
        driver.get(base + "/dashboard/agents")
        table = driver.find_element(By.ID, "scorecards").text
        assert "(no profile)" in table and "100%" in table, table
        assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar"), "no chart"
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the agents page is {overflow}px wider than a phone's screen"
        # The week-by-week trend: a line for the version with a finished task.
        assert driver.find_elements(By.CSS_SELECTOR, "svg#trend circle"), "no trend"
        # The memories and schedules pages, at a phone's width.
        for page in ("memories", "schedules"):
            driver.get(base + "/dashboard/" + page)
            assert driver.find_element(By.TAG_NAME, "h1").text.lower() == page, driver.page_source[:300]
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"the {page} page is {overflow}px wider than a phone's screen"
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # one line for the Swift test that runs this
        line = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == __file__][-1]
        message = str(error).split("Stacktrace:")[0].strip()
        print(f"dashboard test failed at line {line}: {type(error).__name__}: {message}")
        sys.exit(1)
    print("dashboard test passed")
