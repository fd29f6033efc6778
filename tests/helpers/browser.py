"""Driving Debian's Chromium: its flags, and logging in through the login form."""

# Flags that keep Chromium quiet on a machine with no outside network.
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


def log_in(page, live_server, *, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/dashboard/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
