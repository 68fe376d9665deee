"""Swagger UI in a real browser: headless Chromium (Debian's package) opens /docs on the local runtime, authorises
with an API key in the Authorize dialog, tries GET /v1/models, and shows the tenant's model.

`make test` installs Chromium when it is missing (`make browser`); the test is skipped only where it cannot be found.
Chromium starts with a fresh profile and without any background traffic: the page must work offline.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_helpers import Platform

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not Path(CHROMEDRIVER).exists(), reason="Chromium not found (make browser installs it)"
)
WAIT_SECONDS = 60  # how long to wait for the page to react, on a busy two-core machine; not an assertion


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1400,2000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_swagger_ui_authorises_with_a_key_and_tries_a_call(platform: Platform, make_tenant: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    # Given a tenant with one model, and its key
    key = make_tenant("publish,read")["publish,read"]
    created = platform.call("POST", "/v1/models", key, json_body={"name": "shown-in-swagger", "framework": "onnx"})
    assert created.status_code == 201, created.text
    wait = WebDriverWait(browser, WAIT_SECONDS)

    # When Swagger UI is opened, and the key is given in the Authorize dialog (the bearer scheme)
    browser.get(platform.url + "/docs")
    wait.until(shown.element_to_be_clickable((By.CSS_SELECTOR, ".auth-wrapper button.authorize"))).click()
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
    bearer = ".modal-ux .auth-container:first-child"
    browser.find_element(By.CSS_SELECTOR, f"{bearer} input").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, f"{bearer} button.authorize").click()
    wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, f"{bearer} [aria-label='Remove authorization']")))
    browser.find_element(By.CSS_SELECTOR, f"{bearer} button.btn-done").click()

    # And GET /v1/models is tried out
    operation = wait.until(shown.presence_of_element_located((By.ID, "operations-models-list_models")))
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))[0].click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, "button.execute"))[0].click()

    # Then the page shows the call it made, on the same origin, and the tenant's model in a 200 response
    status = wait.until(
        lambda _: operation.find_elements(By.CSS_SELECTOR, ".live-responses-table .response .response-col_status")
    )[0]
    assert status.text.strip() == "200"
    body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table .highlight-code pre").text
    assert '"shown-in-swagger"' in body
    request_url = operation.find_element(By.CSS_SELECTOR, ".request-url pre").text
    # the same origin; Swagger UI sends the documented default page size as well
    assert request_url in (platform.url + "/v1/models", platform.url + "/v1/models?limit=100")
