"""URL configuration. Uploaded media are deliberately not served here: see analyzer.views.audio."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts.views import admin_sign_in

admin.site.site_header = "speechemotion administration"
admin.site.site_title = "speechemotion admin"

urlpatterns = [
    # Before the admin's own: its sign-in is limited like the site's.
    path("admin/login/", admin_sign_in),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("api.urls")),
    path("", include("sharing.urls")),
    path("", include("analyzer.urls")),
]

# A database that went away while a request was answered is a 503, not a 500.
handler500 = "analyzer.middleware.server_error"
