from __future__ import annotations

import csv
import io
import uuid

from analyzer.models import Segment
from analyzer.tests.factories import make_analysis, make_user
from api.tests.helpers import KeyClient
from api.tests.test_analyses import ApiTestCase
from ml.labels import EMOTION_NAMES, Emotion

ANALYSES = "/api/v1/analyses/"


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


class AnalysisExportTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = make_analysis(owner=self.user, original_name="=cmd|x.wav")
        for start, emotion in ((0.0, "happy"), (3.0, "sad")):
            Segment.objects.create(
                analysis=self.analysis,
                start=start,
                end=start + 3.0,
                emotion=emotion,
                confidence=0.9,
                probabilities={emotion: 0.9, "calm": 0.1},
            )

    def test_it_downloads_csv_one_row_per_segment_with_a_guarded_file_name(self) -> None:
        response = self.api.get(f"{ANALYSES}{self.analysis.pk}/export.csv")

        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertTrue(response["Content-Disposition"].startswith("attachment; filename="))
        rows = _rows(response)
        self.assertEqual([row["segment_emotion"] for row in rows], ["happy", "sad"])
        self.assertEqual({row["file_name"] for row in rows}, {"'=cmd|x.wav"})
        self.assertEqual({row["emotion"] for row in rows}, {"happy"})
        self.assertEqual(rows[1]["segment_probability_calm"], "0.1")

    def test_it_downloads_json_with_segments_whatever_the_accept_header(self) -> None:
        response = self.api.get(
            f"{ANALYSES}{self.analysis.pk}/export.json", HTTP_ACCEPT="text/html"
        )

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn("attachment", response["Content-Disposition"])
        body = response.json()
        self.assertEqual(body["file_name"], "=cmd|x.wav")
        self.assertEqual(list(body["probabilities"]), list(EMOTION_NAMES))
        self.assertEqual([s["emotion"] for s in body["segments"]], ["happy", "sad"])

    def test_it_hides_another_owners_analysis_as_404(self) -> None:
        theirs = make_analysis(owner=make_user("bob"))

        for pk in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
            for suffix in ("export.csv", "export.json"):
                response = self.api.get(f"{ANALYSES}{pk}/{suffix}")
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response.json(), {"detail": "No such analysis."})

    def test_it_asks_for_a_key(self) -> None:
        response = KeyClient("se_unknown").get(f"{ANALYSES}{self.analysis.pk}/export.csv")

        self.assertEqual(response.status_code, 401)


class HistoryExportTests(ApiTestCase):
    def test_it_downloads_all_the_keys_owners_analyses_as_filtered(self) -> None:
        for i in range(25):
            make_analysis(owner=self.user, original_name=f"sad-{i}.wav", emotion=Emotion.SAD)
        make_analysis(owner=self.user, emotion=Emotion.HAPPY)
        make_analysis(owner=make_user("bob"), emotion=Emotion.SAD)

        rows = _rows(self.api.get(f"{ANALYSES}export.csv", {"emotion": "sad"}))
        items = self.api.get(f"{ANALYSES}export.json", {"emotion": "sad"}).json()

        self.assertEqual(len(rows), 25)
        self.assertEqual({row["emotion"] for row in rows}, {"sad"})
        self.assertEqual(len(items), 25)
        self.assertEqual(len(self.api.get(f"{ANALYSES}export.json").json()), 26)

    def test_it_names_a_bad_filter(self) -> None:
        response = self.api.get(f"{ANALYSES}export.csv", {"emotion": "bored"})

        self.assertEqual(response.status_code, 400)
        self.assertIn("emotion", response.json())
