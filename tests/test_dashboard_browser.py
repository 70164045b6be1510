"""The dashboard as a person uses it: a real headless Chromium (Debian's `chromium`), driven by
Selenium through Debian's `chromium-driver`, against a private server with a deployed app that
ran real calls in real containers. It logs in through the owner's link, clicks from the apps
page to a function and to the live logs and sees new lines arrive, follows a map's progress on
the function page without reloading, reads a failed call's traceback, creates a secret (a form
that needs the anti-CSRF token) and sees its value never shown, browses a volume, and checks the
browser's console stays free of errors. Screenshots go to $NODAL_TEST_ARTIFACTS/dashboard-browser
when that is set."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from test_dashboard import APP_NAME, dash  # noqa: F401 - the module-scoped server fixture

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the dev extra is not installed
    webdriver = None

pytestmark = [
    pytest.mark.skipif(webdriver is None, reason="selenium is not installed (pip install -e '.[dev]')"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh --dev)"),
]


@pytest.fixture(scope="module")
def browser(dash, tmp_path_factory):  # noqa: F811 - the fixture imported above
    """A headless Chromium that resolves nothing but loopback, with its console log kept."""
    home = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", f"--user-data-dir={home / 'profile'}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard-screenshots")
    yield folder
    if os.environ.get("NODAL_TEST_ARTIFACTS"):
        shutil.copytree(folder, Path(os.environ["NODAL_TEST_ARTIFACTS"]) / "dashboard-browser", dirs_exist_ok=True)


def _wait(driver, condition, timeout: float = 60, what: str = "the page"):
    try:
        # Live blocks are replaced while we look at them: a stale element means "look again".
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: _looked(condition, d))
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; page:\n"
                             f"{driver.find_element(By.TAG_NAME, 'body').text[:2000]}") from None


def _looked(condition, driver):
    """The condition's answer, or False where the page changed under it: an element replaced by a
    live update, or one found in the page a navigation was leaving ("does not belong to the
    document", which Chrome reports as a plain WebDriverException)."""
    try:
        return condition(driver)
    except StaleElementReferenceException:
        return False
    except WebDriverException as e:
        if "does not belong to the document" in str(e) or "No node with given id" in str(e):
            return False
        raise


def _click(driver, by: str, value: str, what: str) -> None:
    """Find and click an element, again if a live update replaced it in between."""

    def attempt(d) -> bool:
        d.find_element(by, value).click()
        return True

    _wait(driver, attempt, timeout=30, what=what)


def _no_console_errors(driver) -> None:
    """No script errors, CSP refusals or failed loads since the last check."""
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _login(driver, dash) -> None:  # noqa: F811
    driver.get(f"{dash['base']}/_nodal/login?token={dash['secret']}")
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Apps", what="the apps page")


def test_click_through_to_live_logs(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    assert "Log out" in _text(browser)
    browser.save_screenshot(str(shots / "apps.png"))
    _no_console_errors(browser)

    _click(browser, By.LINK_TEXT, APP_NAME, "the app link")
    _wait(browser, lambda d: d.current_url.endswith(f"/_nodal/apps/{dash['app_id']}"), what="the app page")
    assert "every_six_hours" in _text(browser) and "every 6h" in _text(browser)
    browser.save_screenshot(str(shots / "app.png"))
    _no_console_errors(browser)

    _click(browser, By.LINK_TEXT, "square", "the function link")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "square", what="the function page")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert "succeeded" in _text(browser) and "p50 latency" in _text(browser)
    _no_console_errors(browser)

    browser.back()
    _wait(browser, lambda d: d.find_elements(By.LINK_TEXT, "Live logs"), what="the app page again")
    browser.find_element(By.LINK_TEXT, "Live logs").click()
    _wait(browser, lambda d: d.find_element(By.ID, "log-status").text == "Following live…",
          what="the log stream to open")
    marker = f"{int(time.time() * 1000) % 1_000_000}"
    assert dash["module"].square.remote(int(marker)) == int(marker) ** 2
    _wait(browser, lambda d: f"dashboard-square {marker}" in d.find_element(By.ID, "loglines").text,
          what="the new log line to appear without reloading")
    browser.save_screenshot(str(shots / "logs.png"))
    _no_console_errors(browser)


def test_function_page_follows_a_running_map(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    fn = dash["fns"]["square"]["function_id"]
    browser.get(f"{dash['base']}/_nodal/functions/{fn}")

    def succeeded(d) -> int:
        tile = d.find_element(By.XPATH, "//div[@class='tile'][span[text()='succeeded']]/span[@class='n']")
        return int(tile.text)

    before = _wait(browser, lambda d: str(succeeded(d)), what="the count of succeeded inputs")
    before = int(before)
    url = browser.current_url
    done: list = []
    worker = threading.Thread(target=lambda: done.append(list(dash["module"].square.map(range(1000, 1040)))))
    worker.start()
    try:
        _wait(browser, lambda d: succeeded(d) >= before + 40, timeout=120,
              what="the map's 40 inputs to show up as succeeded")
    finally:
        worker.join(timeout=120)
    assert done and done[0] == [x * x for x in range(1000, 1040)]
    assert browser.current_url == url  # no navigation: the page updated itself
    browser.save_screenshot(str(shots / "function.png"))
    _no_console_errors(browser)


def test_failed_call_shows_its_traceback(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    browser.get(f"{dash['base']}/_nodal/functions/{dash['fns']['fail']['function_id']}")
    _click(browser, By.CSS_SELECTOR, "tr.bad a[href*='/_nodal/calls/fc-']", "the failed call's link")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Call"), what="the call page")
    pre = browser.find_element(By.CSS_SELECTOR, "details[open] pre")
    assert "ValueError: boom" in pre.text and "Traceback" in pre.text
    browser.save_screenshot(str(shots / "call.png"))
    _no_console_errors(browser)


def test_secret_form_needs_csrf_and_hides_values(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    browser.find_element(By.LINK_TEXT, "Secrets").click()
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Secrets", what="the secrets page")
    name = f"browser-secret-{dash['suffix']}"
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "values").send_keys("BROWSER_KEY=very-hidden-value")
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    _wait(browser, lambda d: "Secret created." in _text(d), what="the secret to be created")
    page = browser.page_source
    assert name in page and "very-hidden-value" not in page and "BROWSER_KEY" not in page
    browser.save_screenshot(str(shots / "secrets.png"))
    _no_console_errors(browser)

    # The same form with a forged anti-CSRF token is refused, and nothing changes.
    browser.find_element(By.ID, "name").send_keys(f"{name}-forged")
    browser.find_element(By.ID, "values").send_keys("A=1")
    browser.execute_script("document.querySelector('form.card input[name=csrf]').value = 'forged';")
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    _wait(browser, lambda d: "anti-CSRF" in _text(d), what="the refusal")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Forbidden"
    browser.get_log("browser")  # the 403 itself is reported as a failed load: expected here
    browser.get(f"{dash['base']}/_nodal/secrets")
    assert f"{name}-forged" not in browser.page_source

    # Deleting asks first (a confirm dialog), then goes through with the page's token.
    row = browser.find_element(By.XPATH, f"//tr[td[text()='{name}']]")
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    _wait(browser, lambda d: d.switch_to.alert, what="the confirmation").accept()
    _wait(browser, lambda d: "Secret deleted." in _text(d), what="the secret to be deleted")
    assert name not in browser.find_element(By.TAG_NAME, "main").text
    _no_console_errors(browser)


def test_browse_a_volume(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    browser.find_element(By.LINK_TEXT, "Volumes").click()
    _wait(browser, lambda d: d.find_elements(By.LINK_TEXT, dash["vol_name"]), what="the volume list")
    browser.find_element(By.LINK_TEXT, dash["vol_name"]).click()
    _wait(browser, lambda d: d.find_elements(By.PARTIAL_LINK_TEXT, "docs"), what="the volume's root")
    assert "top.bin" in _text(browser)
    browser.find_element(By.PARTIAL_LINK_TEXT, "docs").click()
    _wait(browser, lambda d: "readme.txt" in _text(d), what="the docs directory")
    download = browser.find_element(By.XPATH, "//a[contains(@href, '/download?path=docs')]")
    assert "readme.txt" in download.get_attribute("href")
    browser.save_screenshot(str(shots / "volume.png"))
    _no_console_errors(browser)


def test_keyboard_shortcuts_move_between_sections(browser, dash, shots):  # noqa: F811
    _login(browser, dash)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("c")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Containers", what="the containers page")
    browser.save_screenshot(str(shots / "containers.png"))
    browser.find_element(By.TAG_NAME, "body").send_keys("v")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Volumes", what="the volumes page")
    _no_console_errors(browser)


def test_token_login_form_and_logout(browser, dash):  # noqa: F811
    """A remote user logs in with an API token through the form (a same-origin POST the browser
    makes itself), lands where they were going, sees only their workspace, and logs out."""
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    token = run_sync(dash["client"].stub.TokenCreate(api_pb2.TokenCreateRequest(workspace="browser-ws", user="bea")))
    browser.delete_all_cookies()
    browser.get(f"{dash['base']}/_nodal/containers")
    _wait(browser, lambda d: d.find_elements(By.ID, "token_id"), what="the login form")
    browser.get_log("browser")  # the 401 of the page itself is reported as a failed load: expected
    browser.find_element(By.ID, "token_id").send_keys(token.token_id)
    browser.find_element(By.ID, "token_secret").send_keys(token.token_secret)
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Containers", what="the containers page")
    assert "bea · browser-ws" in _text(browser) and dash["app_id"] not in browser.page_source
    browser.find_element(By.LINK_TEXT, "Apps").click()
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Apps", what="the apps page")
    assert APP_NAME not in _text(browser)
    _no_console_errors(browser)
    browser.find_element(By.CSS_SELECTOR, "form.who button[type=submit]").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "token_id"), what="the login page after logging out")
    browser.get(f"{dash['base']}/_nodal/apps")
    assert browser.find_elements(By.ID, "token_id")  # the session is gone
    browser.get_log("browser")


def test_every_section_renders_without_console_errors(browser, dash, shots):  # noqa: F811
    """Each section of the navigation, and a dict's and a queue's peek, render with no script
    error or refused resource; a screenshot of each goes to the artifacts."""
    _login(browser, dash)
    for label, heading in (("Apps", "Apps"), ("Containers", "Containers"), ("Volumes", "Volumes"),
                           ("Dicts", "Dicts"), ("Queues", "Queues"), ("Secrets", "Secrets"),
                           ("Environments", "Environments")):
        browser.find_element(By.LINK_TEXT, label).click()
        _wait(browser, lambda d, h=heading: d.find_element(By.TAG_NAME, "h1").text == h, what=f"the {label} page")
        assert browser.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text == label
        browser.save_screenshot(str(shots / f"section-{label.lower()}.png"))
        _no_console_errors(browser)
    for kind, name, value in (("Dicts", dash["dict_name"], "'v'"), ("Queues", dash["queue_name"], "'item1'")):
        browser.find_element(By.LINK_TEXT, kind).click()
        _wait(browser, lambda d, n=name: d.find_elements(By.LINK_TEXT, n), what=f"{name} in the list")
        browser.find_element(By.LINK_TEXT, name).click()
        _wait(browser, lambda d, v=value: v in _text(d), what=f"the peek of {name}")
        _no_console_errors(browser)
