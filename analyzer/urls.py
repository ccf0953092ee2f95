from __future__ import annotations

from django.urls import path

from analyzer import views

app_name = "analyzer"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("analyses/", views.history, name="history"),
    path("analyses/export.<str:fmt>", views.history_export, name="history_export"),
    path("analyses/delete/", views.history_delete, name="history_delete"),
    path("analyses/<uuid:pk>/", views.result, name="result"),
    path("analyses/<uuid:pk>/export.<str:fmt>", views.export, name="export"),
    path("analyses/<uuid:pk>/status/", views.status, name="status"),
    path("analyses/<uuid:pk>/retry/", views.retry, name="retry"),
    path("analyses/<uuid:pk>/again/", views.analyse_again, name="analyse_again"),
    path("analyses/<uuid:pk>/audio/", views.audio, name="audio"),
    path("analyses/<uuid:pk>/delete/", views.delete, name="delete"),
    path("model/", views.model_card, name="model_card"),
    path("favicon.ico", views.favicon, name="favicon"),
]
