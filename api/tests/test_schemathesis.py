"""Schemathesis drives every API operation of a live server from its OpenAPI schema: no
5xx, and every answer matches the schema (status codes, content types, bodies, headers)."""

from __future__ import annotations

from django.test import LiveServerTestCase, override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from analyzer.tests.factories import TempMediaMixin, make_user
from api.tests.helpers import new_key

MAX_EXAMPLES = 15


# Every generated request gets through, rather than a 429 once the examples pass the rate.
@override_settings(API_THROTTLE_RATE="100000/minute")
class SchemathesisTests(TempMediaMixin, LiveServerTestCase):
    def test_it_answers_every_generated_request_as_the_schema_says(self) -> None:
        import schemathesis
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        make_user("ada")
        headers = {"Authorization": f"Bearer {new_key('ada')}"}
        schema = schemathesis.openapi.from_url(f"{self.live_server_url}/api/v1/schema/?format=json")
        operations = [result.ok() for result in schema.get_all_operations()]
        self.assertEqual(len(operations), 5)

        for operation in operations:
            with self.subTest(operation=operation.label):

                @given(case=operation.as_strategy())
                @hypothesis_settings(
                    max_examples=MAX_EXAMPLES,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def check(case) -> None:
                    case.call_and_validate(
                        base_url=self.live_server_url,
                        headers=headers,
                        # A schema cannot say "a recording with speech": most generated
                        # files are rightly refused (400), which this check would flag.
                        excluded_checks=[positive_data_acceptance],
                    )

                check()
