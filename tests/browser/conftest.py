"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium); never a downloaded browser.

In CI (CI=true) a missing browser is a failure; on a developer machine without it the tests skip.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"Browser tests need Chromium at {CHROMIUM}; CI must install Debian's chromium.")
    skip = pytest.mark.skip(reason="Chromium not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# Every browser test runs under the site's Content-Security-Policy (config/settings.py: on in tests too) and
# fails on any violation: an inline style or script, an eval, a resource from elsewhere. Chromium reports a
# blocked inline style or script in the console; the page's `securitypolicyviolation` events (from every
# frame that may run scripts) are logged to it too with this prefix, so nothing slips through.
CSP_PREFIX = "CSP violation:"
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || event.documentURI}:${event.lineNumber} (${(event.sample || "").slice(0, 80)})`);
});
"""


@pytest.fixture(autouse=True)
def no_csp_violations(request):
    """Fails a browser test whose pages broke the Content-Security-Policy (only tests that open a browser)."""
    if "context" not in request.fixturenames:
        yield
        return
    context = request.getfixturevalue("context")
    violations: list[str] = []

    def on_console(message) -> None:
        text = message.text
        if text.startswith(CSP_PREFIX) or "Content Security Policy" in text:
            violations.append(f"{text} [{message.page.url if message.page else '?'}]")

    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", on_console)
    yield violations
    for page in context.pages:
        if not page.is_closed():
            page.wait_for_timeout(50)  # a violation event is dispatched as a task: let the last ones arrive
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
