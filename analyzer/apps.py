from __future__ import annotations

from django.apps import AppConfig


class AnalyzerConfig(AppConfig):
    name = "analyzer"
    verbose_name = "Speech emotion analyses"

    def ready(self) -> None:
        from analyzer import signals  # noqa: F401  (connects the receivers)
