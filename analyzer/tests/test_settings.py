from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from accounts.checks import check_email_backend
from speechemotion.settings import env_bool, env_int, env_list, env_str

_OURS = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "MAX_UPLOAD_MB",
    "MAX_DURATION_SECONDS",
    "WORKER_HEARTBEAT_SECONDS",
    "STALLED_WORKER_SECONDS",
    "ALLOW_SIGNUP",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_USE_TLS",
    "DEFAULT_FROM_EMAIL",
}


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with these settings-related variables."""
    environ = {k: v for k, v in os.environ.items() if k not in _OURS}
    environ |= {"DJANGO_SETTINGS_MODULE": "speechemotion.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class EnvHelperTests(SimpleTestCase):
    def test_it_reads_booleans(self) -> None:
        for raw, expected in [("1", True), ("Yes", True), ("on", True), ("FALSE", False)]:
            with self.subTest(raw=raw):
                self.assertIs(env_bool("X", not expected, environ={"X": raw}), expected)
        self.assertIs(env_bool("X", True, environ={}), True)
        self.assertIs(env_bool("X", False, environ={"X": "  "}), False)

    def test_it_refuses_a_bad_boolean(self) -> None:
        with self.assertRaisesMessage(ImproperlyConfigured, "DEBUG='maybe' is not a boolean"):
            env_bool("DEBUG", True, environ={"DEBUG": "maybe"})

    def test_it_reads_whole_numbers_within_bounds(self) -> None:
        self.assertEqual(env_int("N", 5, environ={"N": " 42 "}), 42)
        self.assertEqual(env_int("N", 5, environ={}), 5)
        with self.assertRaisesMessage(ImproperlyConfigured, "N='4.5' is not a whole number."):
            env_int("N", 5, environ={"N": "4.5"})
        with self.assertRaisesMessage(ImproperlyConfigured, "N=0 is too small; the minimum is 1."):
            env_int("N", 5, minimum=1, environ={"N": "0"})

    def test_it_reads_lists(self) -> None:
        self.assertEqual(env_list("L", environ={"L": "a.com, b.org,,"}), ["a.com", "b.org"])
        self.assertEqual(env_list("L", ["x"], environ={}), ["x"])

    def test_it_requires_a_string_without_default(self) -> None:
        self.assertEqual(env_str("S", "d", environ={}), "d")
        self.assertIsNone(env_str("S", None, environ={}))
        with self.assertRaisesMessage(ImproperlyConfigured, "Set the S environment variable."):
            env_str("S", environ={})


class SettingsTests(SimpleTestCase):
    def test_it_uses_postgresql_and_storages(self) -> None:
        self.assertEqual(settings.DATABASES["default"]["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(
            settings.STORAGES["default"]["BACKEND"], "django.core.files.storage.FileSystemStorage"
        )
        self.assertFalse(hasattr(settings, "DEFAULT_FILE_STORAGE"))
        self.assertLessEqual(settings.FILE_UPLOAD_MAX_MEMORY_SIZE, 5 * 1024 * 1024)

    def test_it_has_safe_defaults_for_local_work(self) -> None:
        result = _run_python(
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SPEECHEMOTION_MAX_UPLOAD_BYTES, s.SPEECHEMOTION_MAX_DURATION_SECONDS,"
            " s.MEDIA_ROOT == s.BASE_DIR / 'media' or s.MEDIA_ROOT)"
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[:3], ["True", str(50 * 1024 * 1024), "3600"])

    def test_it_needs_a_secret_key_when_debug_is_off(self) -> None:
        result = _run_python("import django; django.setup()", DEBUG="false")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the SECRET_KEY environment variable.", result.stderr)

    def test_it_starts_in_production_mode_with_a_secret_key(self) -> None:
        result = _run_python(
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.ALLOWED_HOSTS, s.SPEECHEMOTION_MAX_UPLOAD_BYTES)",
            DEBUG="false",
            SECRET_KEY="x" * 50,
            ALLOWED_HOSTS="emotion.example.com",
            MAX_UPLOAD_MB="5",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "False ['emotion.example.com'] 5242880")

    def test_it_refuses_a_bad_limit(self) -> None:
        result = _run_python("import django; django.setup()", MAX_DURATION_SECONDS="ten")
        self.assertIn("MAX_DURATION_SECONDS='ten' is not a whole number.", result.stderr)

    def test_it_reads_the_back_pressure_limits(self) -> None:
        code = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SPEECHEMOTION_MAX_PENDING_PER_OWNER, s.SPEECHEMOTION_MAX_QUEUE_WAIT)"
        )
        result = _run_python(
            code, SPEECHEMOTION_MAX_PENDING_PER_OWNER="4", SPEECHEMOTION_MAX_QUEUE_WAIT="45.5"
        )
        self.assertEqual(result.stdout.strip(), "4 45.5", result.stderr)
        result = _run_python(code, SPEECHEMOTION_MAX_PENDING_PER_OWNER="-1")
        self.assertIn("SPEECHEMOTION_MAX_PENDING_PER_OWNER=-1 is too small", result.stderr)
        result = _run_python(code, SPEECHEMOTION_MAX_QUEUE_WAIT="soon")
        self.assertIn("SPEECHEMOTION_MAX_QUEUE_WAIT='soon' is not a number.", result.stderr)

    def test_it_reads_the_account_and_e_mail_settings(self) -> None:
        code = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.ALLOW_SIGNUP, s.EMAIL_BACKEND.split('.')[-2], s.EMAIL_HOST, s.EMAIL_PORT, "
            "s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL)"
        )
        default = _run_python(code)
        configured = _run_python(
            code,
            ALLOW_SIGNUP="0",
            EMAIL_HOST="smtp.example.org",
            EMAIL_PORT="2525",
            EMAIL_USE_TLS="no",
            DEFAULT_FROM_EMAIL="ops@example.org",
        )

        # Sign-up open, e-mails printed on the console; or sign-up closed, e-mails by SMTP.
        self.assertEqual(default.returncode, 0, default.stderr)
        self.assertEqual(
            default.stdout.split()[:5], ["True", "console", "localhost", "587", "True"]
        )
        self.assertEqual(configured.returncode, 0, configured.stderr)
        self.assertEqual(
            configured.stdout.strip(), "False smtp smtp.example.org 2525 False ops@example.org"
        )

    def test_it_warns_at_deploy_when_e_mails_only_reach_the_log(self) -> None:
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"):
            [warning] = check_email_backend(None)
        self.assertIn("Set EMAIL_HOST", warning.hint)
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend"):
            self.assertEqual(check_email_backend(None), [])

    def test_it_configures_the_worker(self) -> None:
        self.assertIn("procrastinate.contrib.django", settings.INSTALLED_APPS)
        self.assertLess(
            settings.INSTALLED_APPS.index("procrastinate.contrib.django"),
            settings.INSTALLED_APPS.index("analyzer"),
        )
        defaults = settings.PROCRASTINATE_WORKER_DEFAULTS
        self.assertLess(defaults["update_heartbeat_interval"], defaults["stalled_worker_timeout"])
        self.assertEqual(
            defaults["stalled_worker_timeout"], settings.SPEECHEMOTION_STALLED_WORKER_SECONDS
        )

    def test_it_refuses_a_heartbeat_slower_than_the_stalled_timeout(self) -> None:
        result = _run_python(
            "import django; django.setup()",
            WORKER_HEARTBEAT_SECONDS="30",
            STALLED_WORKER_SECONDS="20",
        )
        self.assertIn(
            "WORKER_HEARTBEAT_SECONDS must be smaller than STALLED_WORKER_SECONDS", result.stderr
        )

    def test_it_refuses_a_database_other_than_postgresql(self) -> None:
        result = _run_python("import django; django.setup()", DATABASE_URL="sqlite:///x.db")
        self.assertIn("DATABASE_URL must point at PostgreSQL", result.stderr)

    def test_it_does_not_import_tensorflow_with_the_app(self) -> None:
        result = _run_python(
            "import sys, django; django.setup(); "
            "import analyzer.views, analyzer.admin, analyzer.services, speechemotion.urls; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print('ok')"
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ok")
