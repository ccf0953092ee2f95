"""The page where a signed-in user creates, names and revokes API keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api import selectors, services
from api.forms import ApiKeyNameForm
from api.models import ApiKey


def _owned_key_or_404(request: HttpRequest, pk: int) -> ApiKey:
    api_key = selectors.apikey_get(pk=pk, owner=request.user)
    if api_key is None:
        raise Http404("No such key.")
    return api_key


# never_cache: the answer to a creation holds the new key, which must not be kept anywhere.
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def key_list(request: HttpRequest) -> HttpResponse:
    form = ApiKeyNameForm(request.POST or None)
    new_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            new_key = services.apikey_create(owner=request.user, name=form.cleaned_data["name"])
            form = ApiKeyNameForm()
        else:
            status = 400
    context = {
        "form": form,
        "new_key": new_key,
        "keys": selectors.apikey_list(owner=request.user),
    }
    return render(request, "api/keys.html", context, status=status)


@login_required
@require_POST
def key_rename(request: HttpRequest, pk: int) -> HttpResponse:
    api_key = _owned_key_or_404(request, pk)
    form = ApiKeyNameForm(request.POST)
    if form.is_valid():
        services.apikey_rename(api_key=api_key, name=form.cleaned_data["name"])
        messages.success(request, f"The key {api_key.prefix}… is now called “{api_key.name}”.")
    else:
        messages.error(request, "The name is too long (at most 100 characters).")
    return redirect("api:keys")


@login_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    api_key = _owned_key_or_404(request, pk)
    services.apikey_revoke(api_key=api_key)
    messages.success(request, f"The key “{api_key.name}” ({api_key.prefix}…) is revoked.")
    return redirect("api:keys")
