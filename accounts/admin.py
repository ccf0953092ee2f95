from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import Attempt


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Recent attempts, read-only; deleting them lifts a block early."""

    list_display = ("created_at", "kind", "name", "address")
    list_filter = ("kind",)
    search_fields = ("name", "address")
    readonly_fields = ("kind", "name", "address", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Attempt | None = None) -> bool:
        return False
