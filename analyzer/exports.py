"""CSV and JSON exports of one analysis and of the history, as a user downloads them.

One analysis as CSV is one row per segment with the overall result repeated on every
row, so that a spreadsheet can sort and filter the segments without losing which
recording they belong to (an analysis without segments gives one row, segment columns
empty). The history as CSV is one row per analysis. JSON mirrors the same fields.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from django.http import HttpResponse
from django.utils.text import slugify

from analyzer.models import Analysis, Segment
from analyzer.selectors import segment_list
from ml.labels import EMOTION_NAMES

FORMATS = ("csv", "json")

# Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_OVERALL_COLUMNS = [
    "id",
    "status",
    "file_name",
    "duration",
    "created",
    "model",
    "emotion",
    "confidence",
    "verdict",
    "headline",
    *(f"probability_{name}" for name in EMOTION_NAMES),
    *(f"speaking_time_{name}" for name in EMOTION_NAMES),
]
_SEGMENT_COLUMNS = [
    "segment_start",
    "segment_end",
    "segment_emotion",
    "segment_confidence",
    *(f"segment_probability_{name}" for name in EMOTION_NAMES),
]
ANALYSIS_CSV_COLUMNS = [*_OVERALL_COLUMNS, *_SEGMENT_COLUMNS]
HISTORY_CSV_COLUMNS = _OVERALL_COLUMNS


def _emotion_map(values: dict[str, float] | None) -> dict[str, float]:
    values = values or {}
    return {name: float(values.get(name, 0.0)) for name in EMOTION_NAMES}


def analysis_summary(*, analysis: Analysis) -> dict[str, Any]:
    """The overall result as the API names it (result fields null until it is done)."""
    done = bool(analysis.emotion)
    return {
        "id": str(analysis.pk),
        "status": analysis.status,
        "file_name": analysis.original_name,
        "duration": analysis.duration,
        "created": analysis.created_at.isoformat(),
        "model": analysis.model_name or None,
        "emotion": analysis.emotion or None,
        "confidence": analysis.confidence,
        "verdict": (analysis.verdict or "clear") if done else None,
        "headline": analysis.headline or None,
        "probabilities": _emotion_map(analysis.probabilities) if done else None,
        "speaking_time": _emotion_map(analysis.distribution) if done else None,
    }


def _segment_dict(segment: Segment) -> dict[str, Any]:
    return {
        "start": segment.start,
        "end": segment.end,
        "emotion": segment.emotion,
        "confidence": segment.confidence,
        "probabilities": _emotion_map(segment.probabilities),
    }


def analysis_export_data(*, analysis: Analysis) -> dict[str, Any]:
    """One analysis for JSON: its summary with a ``segments`` list in time order."""
    segments = [_segment_dict(s) for s in segment_list(analysis=analysis)]
    return {**analysis_summary(analysis=analysis), "segments": segments}


def history_export_data(*, analyses: Iterable[Analysis]) -> list[dict[str, Any]]:
    """The analyses for JSON, in the order given (the history's: newest first)."""
    return [analysis_summary(analysis=analysis) for analysis in analyses]


def _flat(summary: dict[str, Any]) -> list[Any]:
    probabilities = summary["probabilities"] or {}
    speaking = summary["speaking_time"] or {}
    return [
        *(summary[column] for column in _OVERALL_COLUMNS[:10]),
        *(probabilities.get(name) for name in EMOTION_NAMES),
        *(speaking.get(name) for name in EMOTION_NAMES),
    ]


def _cell(value: Any) -> Any:
    """A cell as written: None empty, text that looks like a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def analysis_export_csv(*, analysis: Analysis) -> str:
    data = analysis_export_data(analysis=analysis)
    overall = _flat(data)
    rows = [
        [
            *overall,
            segment["start"],
            segment["end"],
            segment["emotion"],
            segment["confidence"],
            *(segment["probabilities"][name] for name in EMOTION_NAMES),
        ]
        for segment in data["segments"]
    ] or [[*overall, *([None] * len(_SEGMENT_COLUMNS))]]
    return _csv_text(ANALYSIS_CSV_COLUMNS, rows)


def history_export_csv(*, analyses: Iterable[Analysis]) -> str:
    return _csv_text(
        HISTORY_CSV_COLUMNS, (_flat(s) for s in history_export_data(analyses=analyses))
    )


def _filename(stem: str, fmt: str) -> str:
    """An ASCII name safe in a header and on any file system."""
    return f"{slugify(stem)[:80] or 'analysis'}.{fmt}"


def export_response(*, text: str, fmt: str, stem: str) -> HttpResponse:
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_filename(stem, fmt)}"'
    return response


def analysis_export_response(*, analysis: Analysis, fmt: str) -> HttpResponse:
    """One analysis as a download in ``fmt`` ("csv" or "json")."""
    if fmt == "csv":
        text = analysis_export_csv(analysis=analysis)
    else:
        text = json.dumps(analysis_export_data(analysis=analysis), indent=2, ensure_ascii=False)
    stem = f"{PurePath(analysis.original_name).stem}-emotions"
    return export_response(text=text, fmt=fmt, stem=stem)


def history_export_response(*, analyses: Iterable[Analysis], fmt: str) -> HttpResponse:
    """The analyses (all of them, not one page) as a download in ``fmt``."""
    if fmt == "csv":
        text = history_export_csv(analyses=analyses)
    else:
        text = json.dumps(history_export_data(analyses=analyses), indent=2, ensure_ascii=False)
    return export_response(text=text, fmt=fmt, stem="speechemotion-history")
