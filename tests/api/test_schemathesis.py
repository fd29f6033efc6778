"""Schemathesis against our own ``/api/v1/openapi.json``, on the live test server.

Every operation the schema lists (so every router, as each lands) is called
with generated inputs and a real token of a staff user (the staff actions are
reached too), with some real data behind it: an account with a balance, an
image, a notification, tasks. Each answer must not be a 5xx and must match the
schema: a listed status, its content type, its body. Bounded: a fixed number of
examples per operation, derandomized, so the run is the same every time.

The work the API queues goes to a Redis database of this test's own (emptied
after): the suite's worker must not spend minutes on fuzzed demo tasks.
"""

import pytest
import redis
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from images import services as image_services
from mysite.celery import app as celery_app
from mysite.enqueue import enqueue
from mysite.tasks import demo_task
from mysite.tokens import token_create
from notifications.models import Notification
from tests.helpers.broker import broker_pools_forget
from tests.helpers.factories import picture, upload
from tests.helpers.payments import open_funded
from tests.helpers.services import require
from tests.mysite.test_operations import DEMO, failed
from tests.parallel import OWN_REDIS_DBS, redis_url_on

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 40  # per operation
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
RUN = {"requests": 0}


@pytest.fixture
def fuzz_broker():
    """The Celery app publishes to a Redis database of this test's own, emptied after."""
    url = django_settings.CELERY_BROKER_URL
    require(url.startswith("redis://"), "the Schemathesis run needs Redis (CELERY_BROKER_URL)")
    fuzz_url = redis_url_on(url, OWN_REDIS_DBS["fuzz"])
    queues = redis.Redis.from_url(fuzz_url)
    queues.flushdb()
    conf = celery_app.conf
    saved = {key: conf.get(key) for key in ("broker_read_url", "broker_write_url")}
    conf.broker_read_url = conf.broker_write_url = fuzz_url
    broker_pools_forget()
    try:
        yield
    finally:
        conf.update(saved)
        broker_pools_forget()
        queues.flushdb()
        queues.close()


@pytest.fixture
def api_token(settings, fuzz_broker, media, staff_user, user):
    """A staff user's token, and real objects for the GETs to find."""
    settings.API_THROTTLE_RATE = settings.API_THROTTLE_BURST = 1_000_000  # no 429s here
    open_funded(staff_user, name="Fuzz main", deposit="250.00")
    open_funded(staff_user, name="Fuzz savings", deposit="0")
    open_funded(user, name="Alice main", deposit="10.00")
    image_services.images_upload(owner=staff_user, uploads=[upload(picture(size=(64, 48)))])
    Notification.objects.create(
        recipient=staff_user, channel="in_app", body="Your report is ready.", dedupe_key="fuzz-1"
    )
    enqueue(demo_task, kwargs={"seconds": 0}, user=staff_user)
    failed(DEMO, kwargs={"seconds": 0})
    _, raw = token_create(user=staff_user, name="schemathesis")
    return raw


def operations(url: str) -> list:
    """Every operation of the schema at ``url``; a part it cannot read fails the test."""
    found = []
    for result in schemathesis.openapi.from_url(url).get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def answers_as_the_schema_says(operation, *, base_url: str, token: str) -> None:
    """Run ``EXAMPLES`` generated requests, valid and invalid, against ``operation``."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case):
        RUN["requests"] += 1
        case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
            timeout=30,
        )

    run()


@pytest.mark.slow
def test_every_operation_answers_as_its_schema_says(live_server, api_token, capsys):
    # (schemathesis.pytest.from_fixture needs pytest's Node._nodeid, gone in pytest 9:
    # each operation runs as a Hypothesis test of its own here instead)
    found = operations(f"{live_server.url}/api/v1/openapi.json")
    failures = []
    for operation in found:
        try:
            answers_as_the_schema_says(operation, base_url=live_server.url, token=api_token)
        except Exception as exc:  # noqa: BLE001  (each operation's failure, all reported)
            failures.append(f"{operation.label}:\n{exc}")
    with capsys.disabled():  # for the record of the run, whatever -q says
        print(
            f"\nSchemathesis: {RUN['requests']} generated requests over {len(found)} "
            f"operations, {len(failures)} failing"
        )
    assert len(found) >= 6
    assert not failures, "\n\n".join(failures)
