"""Back-pressure: too many analyses waiting (per owner: 429) or a queue too long (503).

The upload is refused at once with Retry-After, nothing of it is stored, and the same
upload goes through once the queue has room again.
"""

from __future__ import annotations

from django.test import TestCase, override_settings
from django.urls import reverse

from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    make_analysis,
    make_user,
    queued_jobs,
    speech_wav,
    tone_wav,
    upload,
)
from ml.labels import Emotion

UPLOAD = reverse("analyzer:upload")


def waiting(count: int, **fields: object) -> list[Analysis]:
    """``count`` pending analyses (different files)."""
    return [
        make_analysis(emotion=None, data=tone_wav(1.0, 200 + 10 * i), **fields)
        for i in range(count)
    ]


def finished(count: int, *, seconds: float) -> None:
    """``count`` recent analyses of another user that took ``seconds`` in the worker."""
    other = make_user("grace")
    for i in range(count):
        make_analysis(owner=other, data=tone_wav(1.0, 900 + i), processing_ms=seconds * 1000)


class BackPressureMixin(TempMediaMixin):
    def assertNothingStored(self, response, status: int, before: int, *, jobs: int = 0) -> None:
        self.assertEqual(response.status_code, status)
        self.assertEqual(Analysis.objects.count(), before)
        self.assertEqual(len(self.stored_files()), before)
        self.assertEqual(len(queued_jobs()), jobs)


@override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=3, SPEECHEMOTION_MAX_QUEUE_WAIT=0)
class PerOwnerLimitTests(BackPressureMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.SAD)

    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("ada")
        self.client.force_login(self.user)

    def test_it_answers_429_with_retry_after_and_stores_nothing(self) -> None:
        mine = waiting(3, owner=self.user)
        finished(3, seconds=4.0)
        before = Analysis.objects.count()

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertNothingStored(response, 429, before)
        self.assertEqual(response["Retry-After"], "4")
        self.assertContains(response, "You already have 3 recordings waiting", status_code=429)
        self.assertTemplateUsed(response, "analyzer/upload.html")

        # Once one of them is done, the same upload goes through.
        Analysis.objects.filter(pk=mine[0].pk).update(status=Analysis.Status.DONE)
        response = self.client.post(UPLOAD, {"file": upload(self.speech)})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(Analysis.objects.count(), before + 1)

    def test_it_counts_only_the_owners_own_analyses(self) -> None:
        waiting(3, owner=make_user("grace"))
        waiting(2, owner=self.user)

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 302)

    def test_it_limits_an_anonymous_browser_session_too(self) -> None:
        self.client.logout()
        self.client.post(UPLOAD, {"file": upload(self.speech)})
        [first] = Analysis.objects.all()
        waiting(2, session_key=first.session_key)

        response = self.client.post(UPLOAD, {"file": upload(speech_wav(Emotion.ANGRY))})

        self.assertNothingStored(response, 429, 3, jobs=1)

    def test_it_still_shows_the_earlier_result_of_the_same_file(self) -> None:
        waiting(3, owner=self.user)
        existing = make_analysis(owner=self.user, data=self.speech)

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertRedirects(response, existing.get_absolute_url())

    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=0)
    def test_it_has_no_limit_at_zero(self) -> None:
        waiting(5, owner=self.user)

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 302)

    def test_it_refuses_to_analyse_again_over_the_limit(self) -> None:
        done = make_analysis(owner=self.user, data=self.speech)
        waiting(3, owner=self.user)
        before = Analysis.objects.count()

        response = self.client.post(reverse("analyzer:analyse_again", args=[done.pk]), follow=True)

        self.assertContains(response, "You already have 3 recordings waiting")
        self.assertEqual(Analysis.objects.count(), before)


@override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=0, SPEECHEMOTION_MAX_QUEUE_WAIT=10)
class QueueWaitLimitTests(BackPressureMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.SAD)

    def test_it_answers_503_with_retry_after_when_the_queue_is_too_long(self) -> None:
        finished(5, seconds=2.0)
        waiting(6)  # 6 x 2 s for the one worker there may be: 12 s >= 10 s
        before = Analysis.objects.count()

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertNothingStored(response, 503, before)
        self.assertEqual(response["Retry-After"], "4")  # 12 - 10 + 2
        self.assertContains(response, "Many recordings are waiting", status_code=503)

    def test_it_accepts_while_the_expected_wait_is_below_the_limit(self) -> None:
        finished(5, seconds=2.0)
        waiting(4)  # 8 s

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 302)

    def test_it_goes_by_the_median_worker_time(self) -> None:
        finished(5, seconds=0.5)
        make_analysis(data=tone_wav(1.0, 700), processing_ms=60_000)  # one slow outlier
        waiting(6)  # 6 x 0.5 s

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 302)
