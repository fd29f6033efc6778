"""Asserting the order in which a transaction takes its row locks."""


def assert_locks_rows_before_write(queries, *, locks: list[str], write: str) -> list[str]:
    """Each of ``locks`` is taken, in that order, before the first write; the SQL run.

    ``queries``: a ``CaptureQueriesContext``. ``locks``: how each locking
    statement ends (its table, ``WHERE`` and lock clause), in the order they
    must run, each by its own statement. ``write``: how the first write they
    guard begins. Everyone taking locks in one order is what keeps transfers
    from deadlocking, so the order is the point, not just the presence.
    """
    sql = [query["sql"] for query in queries.captured_queries]
    shown = "\n".join(f"{index}: {statement}" for index, statement in enumerate(sql))
    taken = []
    for lock in locks:
        found = [index for index, statement in enumerate(sql) if statement.endswith(lock)]
        assert found, f"No statement ends with {lock!r}:\n{shown}"
        taken.append(found[0])
    writes = [index for index, statement in enumerate(sql) if statement.startswith(write)]
    assert writes, f"No statement begins with {write!r}:\n{shown}"
    order = [*taken, writes[0]]
    assert order == sorted(set(order)), f"Locks then write at {order}, not in that order:\n{shown}"
    return sql
