"""Production settings, security headers and the content security policy; hostile file names."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase, TestCase
from django.urls import reverse

from analyzer import services
from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_analysis, speech_wav, upload

STORED_NAME = re.compile(r"^uploads/\d{4}/\d{2}/[0-9a-f]{32}\.wav$")
_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def production_env(**overrides: str) -> dict[str, str]:
    """A production environment as the README describes it, without the caller's settings."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SECURE_", "SECRET_", "DEBUG", "ALLOWED_", "CSRF_", "SESSION_", "EMAIL_")
        )
    }
    return inherited | {
        "DJANGO_SETTINGS_MODULE": "speechemotion.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "emotion.example.org",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        # Password-reset e-mails are sent, not only logged (`check --deploy` warns).
        "EMAIL_HOST": "smtp.example.org",
        **overrides,
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class ProductionSettingsTests(SimpleTestCase):
    def test_it_passes_the_deployment_checks(self) -> None:
        result = _run(
            ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env()
        )

        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("System check identified no issues", result.stdout)

    def test_it_is_secure_by_default_in_production(self) -> None:
        code = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
            "s.CSRF_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS, "
            "s.X_FRAME_OPTIONS, s.STORAGES['staticfiles']['BACKEND'])"
        )
        # Only what a deployment must set; everything else is left at its default.
        env = production_env()
        for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_INCLUDE_SUBDOMAINS"):
            del env[name]
        del env["SECURE_HSTS_PRELOAD"]

        result = _run(["-c", code], env)

        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.split(),
            ["True", "True", "True", "True", "Lax", "31536000", "DENY"]
            + ["whitenoise.storage.CompressedManifestStaticFilesStorage"],
        )

    def test_it_refuses_to_start_without_a_secret_key_or_allowed_hosts(self) -> None:
        for missing in ("SECRET_KEY", "ALLOWED_HOSTS"):
            with self.subTest(missing=missing):
                env = production_env()
                del env[missing]

                result = _run(["manage.py", "check"], env)

                self.assertNotEqual(result.returncode, 0)
                self.assertIn("ImproperlyConfigured", result.stderr)
                self.assertIn(f"Set the {missing} environment variable", result.stderr)


class SecurityHeaderTests(TempMediaMixin, TestCase):
    def policy(self, response) -> dict[str, list[str]]:
        header = response["Content-Security-Policy"]
        directives = (part.split() for part in header.split(";") if part.strip())
        return {name: values for name, *values in directives}

    def assertScriptsCarryTheNonce(self, response) -> str:
        [nonce] = _NONCE.findall(response["Content-Security-Policy"])
        scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
        self.assertTrue(scripts, "the page has no script to check")
        for tag in scripts:
            self.assertIn(f'nonce="{nonce}"', tag)
        return nonce

    def test_it_sends_a_content_security_policy(self) -> None:
        response = self.client.get(reverse("analyzer:upload"))

        policy = self.policy(response)
        self.assertEqual(policy["default-src"], ["'self'"])
        self.assertEqual(policy["script-src"][0], "'self'")
        self.assertRegex(policy["script-src"][1], _NONCE)
        self.assertEqual(len(policy["script-src"]), 2)  # no 'unsafe-inline', no 'unsafe-eval'
        self.assertEqual(policy["style-src"], ["'self'", "'unsafe-inline'"])
        self.assertEqual(policy["img-src"], ["'self'", "data:", "blob:"])
        self.assertEqual(policy["media-src"], ["'self'", "blob:"])
        self.assertEqual(policy["object-src"], ["'none'"])
        self.assertEqual(policy["frame-ancestors"], ["'none'"])
        self.assertEqual(policy["base-uri"], ["'self'"])
        self.assertEqual(policy["form-action"], ["'self'"])

    def test_it_gives_the_inline_scripts_a_fresh_nonce(self) -> None:
        first = self.assertScriptsCarryTheNonce(self.client.get(reverse("analyzer:upload")))
        second = self.assertScriptsCarryTheNonce(self.client.get(reverse("analyzer:upload")))
        self.assertNotEqual(first, second)

        analysis = make_analysis(
            session_key=self.client.session.session_key,
            emotion=None,
            status=Analysis.Status.PENDING,
        )
        # The result page's script polls the progress and seeks the player.
        self.assertScriptsCarryTheNonce(self.client.get(analysis.get_absolute_url()))

    def test_it_sends_the_other_security_headers(self) -> None:
        for url in (reverse("analyzer:upload"), reverse("admin:login")):
            with self.subTest(url=url):
                response = self.client.get(url)

                self.assertEqual(response["X-Frame-Options"], "DENY")
                self.assertEqual(response["X-Content-Type-Options"], "nosniff")
                self.assertEqual(response["Referrer-Policy"], "same-origin")
                self.assertIn("frame-ancestors 'none'", response["Content-Security-Policy"])

    def test_it_keeps_cookies_from_scripts_and_other_sites(self) -> None:
        # An upload starts the session; the form sets the CSRF cookie.
        self.client.post(reverse("analyzer:upload"), {"file": upload(b"", "empty.wav")})
        self.client.get(reverse("analyzer:upload"))

        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
            with self.subTest(cookie=name):
                cookie = self.client.cookies[name]
                self.assertTrue(cookie["httponly"])
                self.assertEqual(cookie["samesite"], "Lax")


def _multipart(filename: str, data: bytes, content_type: str = "audio/wav") -> tuple[bytes, str]:
    """A form upload with ``filename`` exactly as given (the test client would clean it)."""
    boundary = "----speechemotion-test-boundary"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class HostileFileNameTests(TempMediaMixin, TestCase):
    """The user's file name is display text: it never chooses where the file is stored."""

    NAMES = {
        "../../etc/passwd.wav": "passwd.wav",
        "/etc/passwd.wav": "passwd.wav",
        "..\\..\\Windows\\win.ini.wav": "win.ini.wav",
        "C:\\Users\\eve\\take.wav": "take.wav",
        "Grüße, голос 🎤.wav": "Grüße, голос 🎤.wav",
        "<img src=x onerror=alert(1)>.wav": "<img src=x onerror=alert(1)>.wav",
        "&quot;quoted&quot;.wav": '"quoted".wav',
    }

    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav()

    def post_raw(self, filename: str):
        body, content_type = _multipart(filename, self.speech)
        return self.client.generic("POST", reverse("analyzer:upload"), body, content_type)

    def assertStoredSafely(self, analysis: Analysis) -> None:
        self.assertRegex(analysis.file.name, STORED_NAME)
        stored = Path(analysis.file.path).resolve()
        self.assertTrue(stored.is_relative_to(self.media_root.resolve() / "uploads"))
        self.assertEqual(self.stored_files(), [stored])

    def test_it_stores_under_a_random_name_whatever_the_upload_is_called(self) -> None:
        for filename, shown in self.NAMES.items():
            with self.subTest(filename=filename):
                response = self.post_raw(filename)
                self.addCleanup(Analysis.objects.all().delete)

                self.assertEqual(response.status_code, 302)
                analysis = Analysis.objects.get()
                self.assertEqual(analysis.original_name, shown)
                self.assertStoredSafely(analysis)
                page = self.client.get(analysis.get_absolute_url())
                history = self.client.get(reverse("analyzer:history"))
                for html in (page.content.decode(), history.content.decode()):
                    self.assertNotIn("<img src=x", html)
                if "<img" in shown:
                    self.assertContains(page, "&lt;img src=x onerror=alert(1)&gt;.wav")
                    self.assertContains(history, "&lt;img src=x onerror=alert(1)&gt;.wav")
                audio = self.client.get(reverse("analyzer:audio", args=[analysis.pk]))
                self.assertEqual(audio.status_code, 200)
                self.assertNotIn("\n", audio["Content-Disposition"])
                with self.captureOnCommitCallbacks(execute=True):
                    analysis.delete()
                self.assertEqual(self.stored_files(), [])

    def test_it_shortens_a_very_long_name_and_keeps_its_extension(self) -> None:
        response = self.post_raw("a" * 400 + ".wav")

        self.assertEqual(response.status_code, 302)
        analysis = Analysis.objects.get()
        self.assertEqual(len(analysis.original_name), 255)
        self.assertTrue(analysis.original_name.endswith("a.wav"))
        self.assertStoredSafely(analysis)

    def test_it_cleans_names_that_bypass_the_http_parser(self) -> None:
        # What the admin, `manage.py analyze` or a future API could hand the service.
        cases = {
            "../../etc/passwd": "passwd",
            "evil\r\nSet-Cookie: x=1.wav": "evil Set-Cookie: x=1.wav",
            "nul\x00byte.wav": "nul byte.wav",
            "..": "recording",
            "": "recording",
            "dir\\..\\..\\x.wav": "x.wav",
        }
        for raw, shown in cases.items():
            with self.subTest(raw=raw):
                self.assertEqual(services._display_name(raw), shown)
