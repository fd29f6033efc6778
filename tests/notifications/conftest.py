"""Real servers on loopback: an SMTP server and an HTTP provider with scripted answers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.models import ContactPoint
from tests.helpers.notifications import Provider


@pytest.fixture
def provider(settings):
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            arrived = time.monotonic()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.requests.append(
                    {"at": arrived, "headers": dict(self.headers), "json": json.loads(body)}
                )
                count = len(state.requests)
                status, headers, text = (
                    state.answers.popleft()
                    if state.answers
                    else (200, {}, json.dumps({"id": f"msg-{count}"}))
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = state.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    channels = dict(settings.NOTIFICATION_CHANNELS)
    for channel in ("sms", "push"):
        channels[channel] = {
            "BACKEND": "notifications.backends.HttpBackend",
            "URL": url,
            "TIMEOUT": 2,
        }
    settings.NOTIFICATION_CHANNELS = channels
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def reachable_user(user):
    user.email = "alice@example.com"
    user.save()
    ContactPoint.objects.create(user=user, phone="+4915112345678", push_tokens=["device-1"])
    return user
