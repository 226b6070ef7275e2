"""One end-to-end pass through the admin in a real headless Chromium (Debian's chromium + chromium-driver).

Log in as staff, filter the notifications list to failed rows, requeue them all,
then open the delivery dashboard and keep a screenshot of it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from outbox.models import DailyNotification
from tests.factories import notification_create

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_SECONDS = 240
Status = DailyNotification.Status


def chromium_install() -> str | None:
    """Install Debian's chromium and chromium-driver when missing; the reason when it cannot."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install chromium and chromium-driver"
    # Stay inside pytest-timeout's 300 s so a slow mirror skips the test instead of failing it.
    deadline = time.monotonic() + INSTALL_SECONDS
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium", "chromium-driver"],
    ):
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(command)}` could not run: {error}"
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return f"installed, but {CHROMIUM} or {CHROMEDRIVER} is still missing"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """A headless Chromium driven by selenium, with a throwaway profile."""
    reason = chromium_install()
    if reason:
        pytest.skip(
            "!!!!! BROWSER TEST SKIPPED: Chromium is not usable here: "
            f"{reason}. Install it with `apt-get install -y chromium chromium-driver`. !!!!!"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1000",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.implicitly_wait(5)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.mark.django_db(transaction=True)
def test_staff_requeues_failed_notifications_and_opens_the_dashboard(
    browser, live_server, django_user_model, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    django_user_model.objects.create_superuser("staff", "staff@example.com", "a-long-password-1")
    failed = [
        notification_create(status=Status.FAILED, attempts=8, last_error="HTTP 400")
        for _ in range(2)
    ]
    delivered = notification_create(status=Status.DELIVERED, attempts=1)

    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("staff")
    browser.find_element(By.NAME, "password").send_keys("a-long-password-1")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.LINK_TEXT, "Delivery dashboard")  # linked from the admin index

    browser.get(f"{live_server.url}/admin/outbox/dailynotification/")
    browser.find_element(
        By.CSS_SELECTOR, "#changelist-filter a[href*='status__exact=failed']"
    ).click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    browser.find_element(By.ID, "action-toggle").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("requeue_failed")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert message.startswith("2 notifications requeued")
    assert {n.status for n in DailyNotification.objects.filter(pk__in=[f.pk for f in failed])} == {
        Status.PENDING
    }
    delivered.refresh_from_db()
    assert delivered.status == Status.DELIVERED

    browser.get(f"{live_server.url}/admin/delivery/dashboard/")
    assert "Delivery dashboard" in browser.title
    browser.find_element(By.CSS_SELECTOR, "svg.dashboard-chart")
    screenshot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
