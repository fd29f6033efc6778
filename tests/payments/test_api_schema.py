"""Schemathesis on the payments operations of our own ``openapi.json``, on the
live test server, with a real token: schema-valid and schema-invalid requests,
and no answer may be a 5xx or differ from what the schema says.

``positive_data_acceptance`` is left out: a schema-valid payment can still be
refused by the rules (an unknown account, the same account twice, a currency
mismatch), with a documented 400/403/404/409.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from mysite import tokens

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 40  # per operation and mode: a few seconds each, the same every run


def test_the_payments_operations_answer_as_documented(
    live_server, settings, user, alice_account, bob_account
):
    # given: a token, and a throttle that lets the run through
    settings.API_THROTTLE_RATE = settings.API_THROTTLE_BURST = 1_000_000
    token = tokens.token_create(user=user, name="schemathesis")[1]
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.include(tag="payments").get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(
            case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
            | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        answers_as_documented()
