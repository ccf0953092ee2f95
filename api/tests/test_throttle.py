from __future__ import annotations

from django.core.cache import caches
from django.test import TestCase, override_settings

from analyzer.tests.factories import make_user
from api.tests.helpers import KeyClient, new_key

ANALYSES = "/api/v1/analyses/"


@override_settings(API_THROTTLE_RATE="3/minute")
class ThrottleTests(TestCase):
    def setUp(self) -> None:
        super().setUp()
        caches["api"].clear()
        self.addCleanup(caches["api"].clear)
        make_user("ada")

    def test_it_answers_429_with_retry_after_past_the_rate_of_a_key(self) -> None:
        api = KeyClient(new_key("ada"))
        statuses = [api.get(ANALYSES).status_code for _ in range(3)]

        response = api.get(ANALYSES)

        self.assertEqual(statuses, [200, 200, 200])
        self.assertEqual(response.status_code, 429)
        self.assertGreater(int(response["Retry-After"]), 0)
        self.assertIn("throttled", response.json()["detail"])

    def test_it_counts_each_key_apart(self) -> None:
        first, second = KeyClient(new_key("ada")), KeyClient(new_key("ada"))
        for _ in range(3):
            first.get(ANALYSES)

        self.assertEqual(first.get(ANALYSES).status_code, 429)
        self.assertEqual(second.get(ANALYSES).status_code, 200)

    def test_it_counts_in_the_shared_database_cache(self) -> None:
        # Not the per-process memory cache: every gunicorn worker must see the same counts.
        self.assertEqual(
            caches["api"].__class__.__name__, "DatabaseCache", "the throttle's cache is per process"
        )
        api = KeyClient(new_key("ada"))
        api.get(ANALYSES)

        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM api_throttle_cache")
            self.assertEqual(cursor.fetchone()[0], 1)
