"""What the notification tests' real servers keep: an SMTP mailbox, an HTTP provider's log."""

import threading
from collections import deque


class Mailbox:
    """An aiosmtpd handler: keeps what it receives; can refuse with scripted replies."""

    def __init__(self):
        self.messages = []
        self.replies = deque()  # e.g. "451 4.3.0 try later", answered before accepting

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        if self.replies:
            return self.replies.popleft()
        self.messages.append(envelope)
        return "250 OK"


class Provider:
    """What the fake SMS/push provider received, and what it answers next."""

    def __init__(self):
        self.requests = []  # {"at": time.monotonic() on arrival, "headers": ..., "json": ...}
        self.answers = deque()  # (status, headers, body); 200 {"id": ...} when empty
        self.lock = threading.Lock()
        self.url = ""
