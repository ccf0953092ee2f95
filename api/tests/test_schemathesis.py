"""Schemathesis drives every API operation of a live server from its OpenAPI schema: no
5xx, and every answer matches the schema (status codes, content types, bodies, headers)."""

from __future__ import annotations

from typing import Any

from django.test import LiveServerTestCase, override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from analyzer.models import Analysis, Segment
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from api.tests.helpers import new_key
from ml.labels import Emotion

MAX_EXAMPLES = 15


# Every generated request gets through, rather than a 429 once the examples pass the rate.
@override_settings(API_THROTTLE_RATE="100000/minute")
class SchemathesisTests(TempMediaMixin, LiveServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        import schemathesis

        self.user = make_user("ada")
        self.headers = {"Authorization": f"Bearer {new_key('ada')}"}
        schema = schemathesis.openapi.from_url(f"{self.live_server_url}/api/v1/schema/?format=json")
        self.operations = [result.ok() for result in schema.get_all_operations()]

    def run_operation(self, operation: Any, *, analysis_id: str | None = None) -> set[int]:
        """Run the generated requests; returns the status codes they got."""
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        statuses: set[int] = set()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            if analysis_id is not None:
                case.path_parameters = {**(case.path_parameters or {}), "id": analysis_id}
            response = case.call_and_validate(
                base_url=self.live_server_url,
                headers=self.headers,
                # A schema cannot say "a recording with speech": most generated files are
                # rightly refused (400), which this check would flag.
                excluded_checks=[positive_data_acceptance],
            )
            statuses.add(response.status_code)

        check()
        return statuses

    def test_it_answers_every_generated_request_as_the_schema_says(self) -> None:
        self.assertEqual(len(self.operations), 9)
        for operation in self.operations:
            with self.subTest(operation=operation.label):
                self.run_operation(operation)

    def test_it_describes_real_analyses_as_the_schema_says(self) -> None:
        done = make_analysis(owner=self.user, emotion=Emotion.SAD, verdict="unclear")
        Segment.objects.create(
            analysis=done,
            start=0.0,
            end=3.0,
            emotion="sad",
            confidence=0.6,
            probabilities={"sad": 0.6, "calm": 0.4},
        )
        pending = make_analysis(owner=self.user, emotion=None, status=Analysis.Status.PENDING)
        reads = [op for op in self.operations if op.method.upper() == "GET" and "{id}" in op.path]
        self.assertEqual(len(reads), 4)  # the result, its audio, its CSV and JSON downloads

        for analysis in (done, pending):
            for operation in reads:
                with self.subTest(operation=operation.label, status=analysis.status):
                    statuses = self.run_operation(operation, analysis_id=str(analysis.pk))
                    self.assertIn(200, statuses)
        # The list with both in it.
        [listing] = [op for op in self.operations if op.label == "GET /api/v1/analyses/"]
        self.assertIn(200, self.run_operation(listing))
