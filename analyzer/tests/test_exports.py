from __future__ import annotations

import csv
import io
import json

from django.test import TestCase
from django.urls import reverse

from analyzer.exports import ANALYSIS_CSV_COLUMNS, HISTORY_CSV_COLUMNS
from analyzer.models import Analysis, Segment
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from ml.labels import EMOTION_NAMES, Emotion


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def _segment(analysis: Analysis, start: float, emotion: str, confidence: float) -> Segment:
    return Segment.objects.create(
        analysis=analysis,
        start=start,
        end=start + 3.0,
        emotion=emotion,
        confidence=confidence,
        probabilities={emotion: confidence, "neutral": 1 - confidence},
    )


class AnalysisExportTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)
        self.analysis = make_analysis(
            owner=self.user,
            original_name="Meeting notes (1).wav",
            distribution={"happy": 0.5, "sad": 0.5},
        )
        _segment(self.analysis, 3.0, "sad", 0.7)
        _segment(self.analysis, 0.0, "happy", 0.8)

    def test_it_downloads_one_row_per_segment_with_the_result_repeated(self) -> None:
        response = self.client.get(reverse("analyzer:export", args=[self.analysis.pk, "csv"]))

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        self.assertEqual(
            response["Content-Disposition"],
            'attachment; filename="meeting-notes-1-emotions.csv"',
        )
        header = response.content.decode().splitlines()[0].split(",")
        self.assertEqual(header, ANALYSIS_CSV_COLUMNS)
        first, second = _rows(response)
        for row in (first, second):
            self.assertEqual(row["file_name"], "Meeting notes (1).wav")
            self.assertEqual(row["emotion"], "happy")
            self.assertEqual(row["confidence"], "0.6")
            self.assertEqual(row["verdict"], "clear")
            self.assertEqual(row["headline"], "Happy")
            self.assertEqual(row["model"], "test-model")
            self.assertEqual(row["duration"], "1.0")
            self.assertEqual(row["speaking_time_sad"], "0.5")
            self.assertEqual(row["speaking_time_angry"], "0.0")
        self.assertEqual(
            [(r["segment_start"], r["segment_end"], r["segment_emotion"]) for r in (first, second)],
            [("0.0", "3.0", "happy"), ("3.0", "6.0", "sad")],
        )
        self.assertEqual(second["segment_confidence"], "0.7")
        self.assertEqual(second["segment_probability_sad"], "0.7")
        self.assertEqual(second["segment_probability_angry"], "0.0")

    def test_it_downloads_json_with_a_segments_list(self) -> None:
        response = self.client.get(reverse("analyzer:export", args=[self.analysis.pk, "json"]))

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn('filename="meeting-notes-1-emotions.json"', response["Content-Disposition"])
        body = json.loads(response.content)
        self.assertEqual(body["id"], str(self.analysis.pk))
        self.assertEqual(body["file_name"], "Meeting notes (1).wav")
        self.assertEqual((body["emotion"], body["confidence"]), ("happy", 0.6))
        self.assertEqual(body["headline"], "Happy")
        self.assertEqual(list(body["probabilities"]), list(EMOTION_NAMES))
        self.assertAlmostEqual(sum(body["probabilities"].values()), 1.0)
        self.assertEqual(body["speaking_time"]["sad"], 0.5)
        self.assertEqual([s["start"] for s in body["segments"]], [0.0, 3.0])
        self.assertEqual(body["segments"][1]["probabilities"]["sad"], 0.7)
        self.assertEqual(len(body["segments"][1]["probabilities"]), 8)

    def test_it_links_the_downloads_from_the_result_page(self) -> None:
        response = self.client.get(self.analysis.get_absolute_url())

        for fmt in ("csv", "json"):
            self.assertContains(response, reverse("analyzer:export", args=[self.analysis.pk, fmt]))

    def test_it_hides_another_owners_analysis_as_404(self) -> None:
        theirs = make_analysis(owner=make_user("bob"))
        anonymous = make_analysis(session_key="somebody-else")

        for analysis in (theirs, anonymous):
            for fmt in ("csv", "json"):
                response = self.client.get(reverse("analyzer:export", args=[analysis.pk, fmt]))
                self.assertEqual(response.status_code, 404)
        mine = reverse("analyzer:export", args=[self.analysis.pk, "xlsx"])
        self.assertEqual(self.client.get(mine).status_code, 404)

    def test_it_quotes_cells_a_spreadsheet_would_run_as_formulas(self) -> None:
        for name in ("=HYPERLINK(1).wav", "+1.wav", "-2.wav", "@SUM(A1).wav"):
            Analysis.objects.filter(pk=self.analysis.pk).update(original_name=name)

            response = self.client.get(reverse("analyzer:export", args=[self.analysis.pk, "csv"]))

            self.assertEqual(_rows(response)[0]["file_name"], "'" + name)
        # JSON is data, not a spreadsheet: the name stays as it is.
        response = self.client.get(reverse("analyzer:export", args=[self.analysis.pk, "json"]))
        self.assertEqual(json.loads(response.content)["file_name"], "@SUM(A1).wav")

    def test_it_writes_one_row_without_segments_for_a_pending_analysis(self) -> None:
        pending = make_analysis(owner=self.user, emotion=None)

        [row] = _rows(self.client.get(reverse("analyzer:export", args=[pending.pk, "csv"])))

        self.assertEqual(row["status"], "pending")
        self.assertEqual(
            (row["emotion"], row["segment_start"], row["probability_happy"]), ("", "", "")
        )


class HistoryExportTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)

    def test_it_downloads_every_page_of_the_filtered_history(self) -> None:
        for i in range(23):
            make_analysis(owner=self.user, original_name=f"sad-{i}.wav", emotion=Emotion.SAD)
        make_analysis(owner=self.user, original_name="happy.wav", emotion=Emotion.HAPPY)
        make_analysis(owner=make_user("bob"), original_name="bobs.wav", emotion=Emotion.SAD)
        url = reverse("analyzer:history_export", args=["csv"])

        response = self.client.get(url, {"emotion": "sad"})

        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response["Content-Disposition"], 'attachment; filename="speechemotion-history.csv"'
        )
        self.assertEqual(response.content.decode().splitlines()[0].split(","), HISTORY_CSV_COLUMNS)
        rows = _rows(response)
        self.assertEqual(len(rows), 23)
        self.assertEqual({row["emotion"] for row in rows}, {"sad"})
        self.assertEqual(rows[0]["file_name"], "sad-22.wav")  # newest first
        self.assertEqual(len(_rows(self.client.get(url))), 24)

    def test_it_downloads_the_history_as_a_json_list(self) -> None:
        make_analysis(owner=self.user, original_name="a.wav", emotion=Emotion.ANGRY)
        make_analysis(owner=self.user, original_name="b.wav", emotion=Emotion.HAPPY)
        make_analysis(owner=make_user("bob"), original_name="bobs.wav")

        response = self.client.get(
            reverse("analyzer:history_export", args=["json"]), {"emotion": "angry"}
        )

        self.assertEqual(response["Content-Type"], "application/json")
        [item] = json.loads(response.content)
        self.assertEqual((item["file_name"], item["emotion"]), ("a.wav", "angry"))
        self.assertNotIn("segments", item)

    def test_it_links_the_downloads_with_the_current_filter(self) -> None:
        make_analysis(owner=self.user, emotion=Emotion.SAD)

        response = self.client.get(reverse("analyzer:history"), {"emotion": "sad"})

        for fmt in ("csv", "json"):
            self.assertContains(
                response, reverse("analyzer:history_export", args=[fmt]) + "?emotion=sad"
            )

    def test_it_exports_only_this_browsers_analyses_to_an_anonymous_visitor(self) -> None:
        self.client.logout()
        make_analysis(owner=self.user, original_name="ada.wav")

        response = self.client.get(reverse("analyzer:history_export", args=["csv"]))

        self.assertEqual(response.status_code, 200)
        self.assertEqual(_rows(response), [])
