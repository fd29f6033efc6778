"""The PostgreSQL server a benchmark's databases live on."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2


@contextmanager
def server_cursor(config: dict) -> Iterator:
    """A cursor on the server's ``postgres`` database, in autocommit (CREATE and
    DROP DATABASE cannot run in a transaction). ``config``: a Django DATABASES entry."""
    server = psycopg2.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
    )
    server.autocommit = True
    try:
        with server.cursor() as cursor:
            yield cursor
    finally:
        server.close()
