"""Row locks in plain SQL, for the hot path (as Saleor's payment/lock_objects.py).

Everyone locks in the same order: the payment, then (for a refund) the
refunded payment, then both accounts in ascending primary-key order, so two
transfers between the same accounts never deadlock.
"""

from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction

from payments.models import Account


def locked(model, where: str, params: list, *, first: Sequence[tuple] = ()) -> list:
    """Rows of ``model`` read with a row lock, held until the transaction ends.

    ``FOR NO KEY UPDATE`` (not plain ``FOR UPDATE``): enough to change a
    balance or a status, and it does not block the ``FOR KEY SHARE`` that
    inserting a payment takes on its accounts (its foreign keys), which
    otherwise deadlocks a ``payment_create`` against a ``payment_process``.
    Plain SQL, turned into model instances with the backend's converters as
    the ORM does: this is the hot path, and building the query with the ORM
    (or ``raw()``) cost more CPU than the database spent running it.
    ``first``: (sql, params) statements to run before, in the same round trip.
    """
    db = transaction.get_connection()
    select = locking_select(db, model)[0]
    with db.cursor() as cursor:
        execute(db, cursor, [*first, (f"{select} WHERE {where} {lock_clause(db)}", params)])
        return instances(db, model, cursor.fetchall())


def instances(db, model, rows) -> list:
    """Model instances from rows of ``locking_select``'s columns, converted as the ORM does."""
    _, names, converters = locking_select(db, model)
    found = []
    for row in rows:
        values = list(row)
        for index, column, functions in converters:
            for convert in functions:
                values[index] = convert(values[index], column, db)
        found.append(model.from_db(db.alias, names, values))
    return found


def execute(db, cursor, statements: list[tuple]) -> None:
    """Run (sql, params) statements in order; the cursor holds the last one's rows.

    On PostgreSQL they go as one round trip (psycopg sends several statements
    as one): fewer waits on the network while row locks are held.
    """
    if db.vendor == "postgresql":
        cursor.execute(
            ";\n".join(sql for sql, _ in statements),
            [param for _, params in statements for param in params],
        )
    else:
        for sql, params in statements:
            cursor.execute(sql, params)


def lock_clause(db) -> str:
    return db.ops.for_update_sql(no_key=True) if db.features.has_select_for_update else ""


_SELECTS: dict = {}


def locking_select(db, model) -> tuple[str, list[str], list]:
    """``SELECT <columns> FROM <table>``, the attribute names, and the converters
    the ORM applies to each column read from this backend; worked out once."""
    key = (db.alias, model)
    if key not in _SELECTS:
        fields, quote = model._meta.concrete_fields, db.ops.quote_name
        columns = ", ".join(quote(field.column) for field in fields)
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            functions = [*db.ops.get_db_converters(column), *field.get_db_converters(db)]
            if functions:
                converters.append((index, column, functions))
        _SELECTS[key] = (
            f"SELECT {columns} FROM {quote(model._meta.db_table)}",  # noqa: S608
            [field.attname for field in fields],
            converters,
        )
    return _SELECTS[key]


def accounts_lock(*, ids: list[int]) -> dict[int, Account]:
    """Lock accounts in ascending pk order; by pk. Call inside ``atomic()``.

    Everyone locks in the same order, so two transfers in opposite directions
    wait for each other instead of deadlocking.
    """
    ids = sorted(set(ids))
    marks = ", ".join(["%s"] * len(ids))
    return {account.pk: account for account in locked(Account, f"id IN ({marks}) ORDER BY id", ids)}


def lock_timeout() -> list[tuple]:
    """The statement that gives up waiting for a row lock after
    PAYMENTS_LOCK_TIMEOUT_MS (for this transaction; the task then retries)."""
    if connection.vendor != "postgresql":
        return []
    return [
        ("SELECT set_config('lock_timeout', %s, true)", [f"{settings.PAYMENTS_LOCK_TIMEOUT_MS}ms"])
    ]
