"""Production serving: gunicorn's settings from the environment, static files by whitenoise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import Client, SimpleTestCase, override_settings
from django.urls import reverse

_GUNICORN_ENV = ("GUNICORN_", "WEB_CONCURRENCY", "PORT", "LOG_LEVEL")


def _gunicorn_config(**env: str) -> dict[str, str]:
    """gunicorn's effective settings (``--print-config``) with gunicorn.conf.py and ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_GUNICORN_ENV)}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config"],
        cwd=settings.BASE_DIR,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


class GunicornConfigTests(SimpleTestCase):
    def test_it_has_defaults_for_one_small_machine(self) -> None:
        config = _gunicorn_config()

        self.assertEqual(config["wsgi_app"], "speechemotion.wsgi:application")
        self.assertEqual(config["bind"], "['127.0.0.1:8000']")
        self.assertEqual((config["workers"], config["threads"]), ("2", "4"))
        self.assertEqual((config["max_requests"], config["max_requests_jitter"]), ("1000", "100"))
        # The master imports the project once and forks the workers (a faster cold start).
        self.assertEqual(config["preload_app"], "True")

    def test_it_starts_the_web_process_without_the_models_code(self) -> None:
        # What a gunicorn worker imports: not the worker's side, the model's feature code
        # nor SciPy (a second of imports): the web process starts answering sooner.
        code = (
            "import sys; from speechemotion.wsgi import application; "
            "print(sorted(m for m in ('scipy', 'ml.features', 'analyzer.processing', "
            "'onnxruntime', 'ctranslate2') if m in sys.modules))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env=os.environ | {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "localhost"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "[]")

    def test_it_reads_the_environment(self) -> None:
        config = _gunicorn_config(
            GUNICORN_BIND="0.0.0.0:9000",
            WEB_CONCURRENCY="3",
            GUNICORN_THREADS="1",
            GUNICORN_TIMEOUT="45",
            GUNICORN_MAX_REQUESTS="0",
            GUNICORN_ACCESS_LOG="0",
        )

        self.assertEqual(config["bind"], "['0.0.0.0:9000']")
        self.assertEqual((config["workers"], config["threads"]), ("3", "1"))
        self.assertEqual((config["timeout"], config["max_requests"]), ("45", "0"))
        self.assertEqual(config["accesslog"], "None")

    def test_it_says_which_value_is_wrong(self) -> None:
        with self.assertRaisesMessage(AssertionError, "GUNICORN_THREADS='many' is not a whole"):
            _gunicorn_config(GUNICORN_THREADS="many")


class StaticFilesTests(SimpleTestCase):
    """What `collectstatic` gathers, whitenoise serves: hashed names, cached for good."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        static_root = Path(cls.enterClassContext(tempfile.TemporaryDirectory(prefix="se-st-")))
        cls.enterClassContext(
            override_settings(
                STATIC_ROOT=static_root,
                STORAGES={
                    **settings.STORAGES,
                    "staticfiles": {
                        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    },
                },
                WHITENOISE_USE_FINDERS=False,
                WHITENOISE_AUTOREFRESH=False,
            )
        )
        call_command("collectstatic", interactive=False, verbosity=0)

    def test_it_serves_the_admin_styles_compressed_and_cached_for_good(self) -> None:
        client = Client()  # A new handler: whitenoise reads the files at start.
        page = client.get(reverse("admin:login")).content.decode()
        [stylesheet] = re.findall(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)

        response = client.get(stylesheet, headers={"accept-encoding": "gzip"})

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Encoding"], "gzip")
        self.assertIn("immutable", response["Cache-Control"])
        self.assertEqual(client.get("/static/admin/css/nonexistent.css").status_code, 404)

    def test_it_serves_the_favicon_the_pages_link(self) -> None:
        client = Client()
        page = client.get(reverse("analyzer:upload")).content.decode()
        [icon] = re.findall(
            r'<link rel="icon" href="(/static/analyzer/favicon\.[0-9a-f]{12}\.svg)" '
            r'type="image/svg\+xml">',
            page,
        )

        response = client.get(icon)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "image/svg+xml")
        self.assertIn(b"<svg", b"".join(response.streaming_content))
        # Pages that do not link it (the admin's) find it at the usual address.
        favicon_ico = client.get("/favicon.ico")
        self.assertRedirects(favicon_ico, icon, fetch_redirect_response=False)
