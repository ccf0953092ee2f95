from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from sharing.models import ShareLink


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Read-only: the links are made and revoked by the analyses' owners. The token itself
    is never stored, so it cannot be shown here."""

    list_display = ("analysis", "owner", "created_at", "expires_at", "revoked_at", "state")
    list_filter = ("revoked_at", "expires_at")
    list_select_related = ("analysis", "analysis__owner")
    search_fields = ("analysis__original_name", "analysis__owner__username")
    fields = ("analysis", "created_at", "expires_at", "revoked_at", "state")
    readonly_fields = fields

    @admin.display(description="Owner")
    def owner(self, obj: ShareLink) -> str:
        return obj.analysis.owner.get_username() if obj.analysis.owner else "(anonymous)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ShareLink | None = None) -> bool:
        return False
