"""The review page in headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by
selenium): grading through rubric keys, buttons and a comment survives a reload, two tabs
grading the same answer keep both grades, an answer holding ``<script>`` is shown as text, and
a browser without the token is refused.

Set ``GLMM_REVIEW_SCREENS=DIR`` to save screenshots of the pages the tests visit."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import _review_course as rc
import pytest

from glmm_exercises.review.app import ReviewApp
from glmm_exercises.review.folder import GradingFolder

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
DRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None
)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="headless Chromium or its driver not installed (apt-get install chromium chromium-driver)",
)
TOKEN = "browser-token-0123456789"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rc.make_course(tmp_path_factory.mktemp("review-browser"))


@pytest.fixture
def server(course: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The review app of a freshly graded folder on 127.0.0.1 (a free port), in a thread."""
    from werkzeug.serving import make_server

    grading = rc.grade(course, tmp_path / "grading")
    httpd = make_server("127.0.0.1", 0, ReviewApp(GradingFolder(grading), TOKEN), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.port}", grading
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("GLMM_REVIEW_SCREENS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _keys(driver: webdriver.Chrome, keys: str) -> None:
    ActionChains(driver).send_keys(keys).perform()


def _on_student(driver: webdriver.Chrome, sid: str) -> bool:
    """Wait (after a submit) until the grade page of ``sid`` is shown."""
    def shown(d: webdriver.Chrome) -> bool:
        found = d.find_elements(By.ID, "student")
        try:
            return bool(found) and found[0].text == sid
        except Exception:  # the page changed under us: look again
            return False

    return bool(WebDriverWait(driver, 20).until(shown))


def _checked(driver: webdriver.Chrome) -> list[int]:
    boxes = driver.find_elements(By.CSS_SELECTOR, "input[name=entry]")
    return [int(b.get_attribute("value") or -1) for b in boxes if b.is_selected()]


def _grade_url(base: str, sid: str) -> str:
    return f"{base}/grade/{rc.EX}/{rc.ITEM}/{sid}"


def test_grading_three_answers_with_keys_buttons_and_a_comment_survives_a_reload(
    server: tuple[str, Path], browser: webdriver.Chrome
) -> None:
    base, grading = server
    browser.get(f"{base}/?token={TOKEN}")
    _shot(browser, "review-overview-before")
    browser.find_element(By.CSS_SELECTOR, f"a[href='/queue/{rc.EX}/{rc.ITEM}']").click()
    assert browser.find_element(By.ID, "student").text == "s1"  # the queue starts at the first ungraded answer
    _keys(browser, "12")  # keys toggle rubric entries 1 and 2
    browser.find_element(By.ID, "comment").send_keys("Clear and complete.")
    _shot(browser, "review-grade-s1")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    assert _on_student(browser, "s2")  # Ctrl+Enter in the comment: saved, and on to the next ungraded
    assert "Saved the grade of s1" in browser.find_element(By.ID, "saved").text
    browser.find_element(By.ID, "entry-2").click()  # a rubric button with the mouse
    browser.find_element(By.ID, "save-next").click()
    assert _on_student(browser, "s3")
    _keys(browser, "2")
    _keys(browser, "s")  # s saves and moves on
    assert _on_student(browser, "s4")

    expected = {"s1": ([0, 1], "Clear and complete."), "s2": ([2], ""), "s3": ([1], "")}
    for sid, (entries, comment) in expected.items():
        browser.get(_grade_url(base, sid))
        browser.refresh()
        assert _checked(browser) == entries, sid
        assert browser.find_element(By.ID, "comment").get_attribute("value") == comment
    browser.get(base + "/")
    assert "3/4 graded" in browser.find_element(By.ID, "items").text
    _shot(browser, "review-overview-after")
    stored = GradingFolder(grading).store().current_grades()
    assert {sid: list(stored[(sid, rc.EX, rc.ITEM)].entries) for sid in expected} == {
        sid: e for sid, (e, _) in expected.items()
    }


def test_two_tabs_grading_the_same_answer_keep_both_grades(server: tuple[str, Path], browser: webdriver.Chrome) -> None:
    base, grading = server
    browser.get(f"{base}/?token={TOKEN}")
    browser.get(_grade_url(base, "s4"))
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(_grade_url(base, "s4"))
    second = browser.current_window_handle
    browser.find_element(By.ID, "entry-0").click()
    browser.find_element(By.ID, "comment").send_keys("from the second tab")
    browser.switch_to.window(first)
    browser.find_element(By.ID, "entry-1").click()
    browser.find_element(By.ID, "comment").send_keys("from the first tab")
    browser.find_element(By.ID, "save").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "saved"))
    browser.switch_to.window(second)
    browser.find_element(By.ID, "save").click()  # saved on top of a grade this tab has not seen
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "conflict"))
    assert "Another tab had graded" in browser.find_element(By.ID, "conflict").text
    history = browser.find_element(By.ID, "history").text
    assert "from the first tab" in history and "from the second tab" in history
    _shot(browser, "review-two-tabs-conflict")
    events = [g for g in GradingFolder(grading).store().grade_history("s4") if g.item == rc.ITEM]
    assert [(list(g.entries), g.comment) for g in events] == [([1], "from the first tab"), ([0], "from the second tab")]


def test_an_answer_holding_a_script_is_shown_as_text(server: tuple[str, Path], browser: webdriver.Chrome) -> None:
    base, _ = server
    browser.get(f"{base}/student/s2")  # without the token: refused
    assert "403" in browser.title and "token" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(f"{base}/?token={TOKEN}")
    for url in (_grade_url(base, "s2"), f"{base}/student/s2"):
        browser.get(url)
        assert browser.title != "pwned"  # the script did not run
        assert "<script>document.title='pwned'</script>" in browser.find_element(By.CSS_SELECTOR, ".answer").text
    _shot(browser, "review-student-s2")
