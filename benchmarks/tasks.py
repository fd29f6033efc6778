"""Benchmark tasks for our stack (loaded with `celery -A mysite worker --include`)."""

from celery import shared_task

from benchmarks.probe import record_done


@shared_task(name="benchmarks.noop")
def noop(run: str, sent: float) -> None:
    """A no-op whose STARTED and SUCCESS are stored like any project task."""
    record_done(run, sent)


@shared_task(name="benchmarks.noop_unstored", ignore_result=True)
def noop_unstored(run: str, sent: float) -> None:
    """A no-op whose outcome lives elsewhere (like a task that updates its domain row)."""
    record_done(run, sent)
