"""How a page looks, checked the same way for every page (issue 17).

``look_over(page, name)`` shows the page open in ``page`` on a phone (390x844)
and a desktop (1280x800), each in the light and the dark theme; for each of the
four it checks that nothing is wider than the window, runs axe-core (serious
and critical violations fail), and saves a full-page screenshot as
``test-output/screenshots/<name>-<viewport>-<theme>.png`` to look at.

axe-core is the copy bundled in the ``axe-playwright-python`` wheel (pinned in
requirements.txt): it installs with everything else, with no Node step. Only its
axe.min.js is used; running it and reading the results is done here.
"""

from pathlib import Path

from django.conf import settings

OUTPUT = Path(settings.BASE_DIR) / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
THEMES = ("light", "dark")
BLOCKING = {"serious", "critical"}


def screenshot(page, name: str) -> Path:
    """A full-page screenshot of ``page`` as it is now, under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_script() -> str:
    from axe_playwright_python.base import AXE_FILE_PATH

    return AXE_FILE_PATH.read_text()


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now (every impact)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_script())
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return results["violations"]


def describe(violation: dict) -> str:
    targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
    return f"{violation['impact']} {violation['id']}: {violation['help']} ({targets})"


def watch_responses(page) -> list[str]:
    """Every response of 400 or more the page gets from now on (a missing favicon,
    a script, a picture), as ``"404 /path"``; the list fills as the page runs."""
    failed = []
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    return failed


def look_over(page, name: str, *, strict: bool = True) -> list[str]:
    """The page in four looks; returns what is wrong, and with ``strict`` fails on it."""
    problems = []
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            look = f"{name} {viewport} {theme}"
            wide, window = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            if wide > window:
                problems.append(f"{look}: the page is {wide}px wide in a {window}px window")
            problems += [
                f"{look}: {describe(violation)}"
                for violation in axe_violations(page)
                if violation["impact"] in BLOCKING
            ]
            screenshot(page, f"{name}-{viewport}-{theme}")
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.emulate_media(color_scheme="light")
    if strict:
        assert not problems, "\n".join(problems)
    return problems
