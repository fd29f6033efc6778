"""The domain's two kinds of error, and the one place they become HTTP statuses.

``Rejected``: we will not do what was asked, and asking again the same way
will not help; its message says why, for the person who asked, ``code`` names
the refusal for programs and ``fields`` puts messages on the inputs at fault.
Its ``kind`` (invalid, forbidden, not_found, conflict, too_large,
unsupported) is all the API and the pages need to pick a status.

``Unavailable``: something we rely on (the broker, the storage, Redis, a
provider) failed in a way that may pass; ``retry_after`` says when to try
again. Its message is for the log; ``public_message`` is what a person reads.

Every app's exceptions subclass one of the two; ``http_status`` maps them,
the API's handlers (mysite/api/v1.py) and the pages' (mysite/middleware.py,
``form_rejected``) use it, and no domain exception carries a status.
"""

import math

STATUSES = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported": 415,
}
UNAVAILABLE_STATUS = 503
RETRY_AFTER_DEFAULT = 30  # seconds a 503 asks clients to wait when the error does not know


class Rejected(Exception):
    """A request we refuse: ``raise KeyConflict("...")``, or a kind per instance
    (``ImageRejected("...", kind="too_large")``) when one class covers several."""

    kind = "invalid"
    code = "rejected"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        if code is not None:
            self.code = code
        if self.kind not in STATUSES:
            raise ValueError(f"unknown kind {self.kind!r}: use one of {', '.join(STATUSES)}")
        self.fields = fields or {}


class Unavailable(Exception):
    """A failure that may pass: retry (a task), or answer 503 with ``Retry-After``."""

    retry_after: float | None = None  # seconds; None: no idea (a task uses its backoff)
    public_message = "A service we rely on is unavailable right now; please try again shortly."

    def __init__(self, message: str = "", *, retry_after: float | None = None):
        super().__init__(message or self.public_message)
        if retry_after is not None:
            self.retry_after = retry_after


def http_status(exc: Rejected | Unavailable) -> int:
    """The HTTP status for a domain error: its kind's, or 503."""
    if isinstance(exc, Unavailable):
        return UNAVAILABLE_STATUS
    return STATUSES[exc.kind]


def retry_after(exc: Unavailable) -> str:
    """A 503's ``Retry-After``: the error's ``retry_after`` in whole seconds
    (rounded up), else ``RETRY_AFTER_DEFAULT``."""
    return str(max(1, math.ceil(exc.retry_after or RETRY_AFTER_DEFAULT)))


def form_rejected(form, exc: Rejected, *, field: str | None = None) -> None:
    """Show a refusal on ``form``: each of ``exc.fields`` on its field (if the form
    has it), else the message on ``field`` (None: the whole form)."""
    placed = False
    for name, messages in exc.fields.items():
        if name in form.fields:
            for message in messages:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(field, exc.message)
