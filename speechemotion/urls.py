"""URL configuration. Uploaded media are deliberately not served here: see analyzer.views.audio."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "speechemotion administration"
admin.site.site_title = "speechemotion admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("analyzer.urls")),
]

# A database that went away while a request was answered is a 503, not a 500.
handler500 = "analyzer.middleware.server_error"
