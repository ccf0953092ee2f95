from __future__ import annotations

from django.urls import path

from sharing import views

app_name = "sharing"

urlpatterns = [
    path("analyses/<uuid:pk>/share/", views.create, name="create"),
    path("analyses/<uuid:pk>/share/<int:link_id>/revoke/", views.revoke, name="revoke"),
    path("shared/<slug:token>/", views.shared, name="shared"),
    path("shared/<slug:token>/audio/", views.shared_audio, name="audio"),
]
