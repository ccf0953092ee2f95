"""The API under /api/v1/, and the page that manages its keys."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import pages, views

app_name = "api"

urlpatterns = [
    path("api/v1/analyses/", views.AnalysisListView.as_view(), name="analysis-list"),
    path(
        "api/v1/analyses/export.csv", views.HistoryExportCsvView.as_view(), name="export-list-csv"
    ),
    path(
        "api/v1/analyses/export.json",
        views.HistoryExportJsonView.as_view(),
        name="export-list-json",
    ),
    path("api/v1/analyses/<str:pk>/", views.AnalysisDetailView.as_view(), name="analysis-detail"),
    path(
        "api/v1/analyses/<str:pk>/export.csv",
        views.AnalysisExportCsvView.as_view(),
        name="analysis-export-csv",
    ),
    path(
        "api/v1/analyses/<str:pk>/export.json",
        views.AnalysisExportJsonView.as_view(),
        name="analysis-export-json",
    ),
    path(
        "api/v1/analyses/<str:pk>/audio/",
        views.AnalysisAudioView.as_view(),
        name="analysis-audio",
    ),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL, so no inline script needs the CSP.
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("api/keys/", pages.key_list, name="keys"),
    path("api/keys/<int:pk>/rename/", pages.key_rename, name="key_rename"),
    path("api/keys/<int:pk>/revoke/", pages.key_revoke, name="key_revoke"),
]
