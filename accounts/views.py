"""Sign-up, and Django's account views with floods of attempts refused (429).

Sign-in and sign-up both go through ``django.contrib.auth.login``, whose ``user_logged_in``
signal hands the analyses made in this browser to the account (``analyzer.signals``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import selectors, services
from accounts.forms import SignUpForm
from accounts.limits import Block, attempt_name, client_address
from accounts.models import Attempt


def _too_many(response: HttpResponse, block: Block) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(block.retry_after)
    return response


def _block_for(request: HttpRequest, kind: Attempt.Kind, field: str) -> Block | None:
    return selectors.attempt_block(
        kind=kind, address=client_address(request), name=attempt_name(request.POST.get(field))
    )


class SignInView(auth_views.LoginView):
    """Django's sign-in; while too many attempts failed, a 429 without checking the password."""

    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        block = _block_for(request, Attempt.Kind.SIGN_IN, "username")
        if block is None:
            # A failure is recorded by the user_login_failed signal (accounts.signals).
            return super().post(request, *args, **kwargs)
        form = self.get_form_class()(request, initial={"username": request.POST.get("username")})
        context = self.get_context_data(form=form, refusal=block.message)
        return _too_many(self.render_to_response(context), block)


class SignOutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # Added after the old session is gone, so the new one carries it.
        messages.info(request, "You are signed out.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by e-mail, with requests per address and per e-mail address limited."""

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        address, email = client_address(request), attempt_name(request.POST.get("email"))
        block = selectors.attempt_block(
            kind=Attempt.Kind.PASSWORD_RESET, address=address, name=email
        )
        if block is not None:
            form = self.get_form_class()(initial={"email": request.POST.get("email")})
            context = self.get_context_data(form=form, refusal=block.message)
            return _too_many(self.render_to_response(context), block)
        services.attempt_record(kind=Attempt.Kind.PASSWORD_RESET, address=address, name=email)
        return super().post(request, *args, **kwargs)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_SIGNUP:
        raise Http404("Sign-up is closed on this site.")
    next_url = _safe_next(request)
    context: dict[str, object] = {"next": next_url}
    if request.method != "POST":
        return render(request, "accounts/signup.html", {**context, "form": SignUpForm()})

    address, name = client_address(request), attempt_name(request.POST.get("username"))
    block = selectors.attempt_block(kind=Attempt.Kind.SIGN_UP, address=address, name=name)
    if block is not None:
        form = SignUpForm(initial={key: request.POST.get(key) for key in ("username", "email")})
        context |= {"form": form, "refusal": block.message}
        return _too_many(render(request, "accounts/signup.html", context), block)
    services.attempt_record(kind=Attempt.Kind.SIGN_UP, address=address, name=name)
    form = SignUpForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/signup.html", {**context, "form": form}, status=400)
    try:
        user = services.user_create(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
    except IntegrityError:  # someone else took the name a moment ago
        form.add_error("username", "A user with that username already exists.")
        return render(request, "accounts/signup.html", {**context, "form": form}, status=400)
    login(request, user)
    messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
    return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def admin_sign_in(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
    """The admin's sign-in, limited like the site's (their failures count together)."""
    if request.method == "POST":
        block = _block_for(request, Attempt.Kind.SIGN_IN, "username")
        if block is not None:
            page = render(request, "429.html", {"message": block.message})
            return _too_many(page, block)
    return admin.site.login(request, extra_context)
