"""The ml package's settings are read by settings.py only, and handed to ml by the app.

``SPEECHEMOTION_DECODE_TIMEOUT`` and ``SPEECHEMOTION_MODEL`` are read from the environment
in one place, with ``ImproperlyConfigured`` on values that cannot be used; ml itself
reads no environment variable (``ml.audio.configure`` gets the timeout at start-up).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase

from speechemotion.settings import env_dir, env_float

_OURS = {"SPEECHEMOTION_DECODE_TIMEOUT", "SPEECHEMOTION_MODEL", "DEBUG", "SECRET_KEY"}


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with these variables (and none of ours else)."""
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


_SETUP = "import django; django.setup(); import ml.audio; print(ml.audio.decode_timeout())"


class EnvFloatTests(SimpleTestCase):
    def test_it_reads_numbers_within_bounds(self) -> None:
        self.assertEqual(env_float("T", 120.0, environ={}), 120.0)
        self.assertEqual(env_float("T", 120.0, environ={"T": " 2.5 "}), 2.5)
        self.assertEqual(env_float("T", 120.0, minimum=1, environ={"T": "1e3"}), 1000.0)

    def test_it_refuses_what_is_not_a_usable_number(self) -> None:
        cases = {
            "soon": "T='soon' is not a number.",
            "nan": "T='nan' is not a finite number.",
            "inf": "T='inf' is not a finite number.",
            "0.5": "T=0.5 is too small; the minimum is 1.",
            "-3": "T=-3 is too small; the minimum is 1.",
        }
        for raw, message in cases.items():
            with self.subTest(raw), self.assertRaisesMessage(ImproperlyConfigured, message):
                env_float("T", 120.0, minimum=1, environ={"T": raw})


class EnvDirTests(SimpleTestCase):
    def test_it_reads_an_existing_directory(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            self.assertEqual(env_dir("D", environ={"D": folder}), Path(folder))
        self.assertIsNone(env_dir("D", environ={"D": "  "}))

    def test_it_refuses_a_path_that_is_not_a_directory(self) -> None:
        with tempfile.NamedTemporaryFile() as file:
            for value in (file.name, "/no/such/model"):
                with (
                    self.subTest(value),
                    self.assertRaisesMessage(ImproperlyConfigured, f"D={value!r} is not a dir"),
                ):
                    env_dir("D", environ={"D": value})


class MlSettingsTests(SimpleTestCase):
    def test_it_hands_the_decode_timeout_to_ml_at_start_up(self) -> None:
        result = _run_python(_SETUP, SPEECHEMOTION_DECODE_TIMEOUT="7.5")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "7.5")

    def test_it_refuses_a_bad_decode_timeout_at_start_up(self) -> None:
        result = _run_python(_SETUP, SPEECHEMOTION_DECODE_TIMEOUT="0")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "ImproperlyConfigured: SPEECHEMOTION_DECODE_TIMEOUT=0 is too small; the minimum is 1.",
            result.stderr,
        )

    def test_it_refuses_a_model_directory_that_does_not_exist(self) -> None:
        result = _run_python(_SETUP, SPEECHEMOTION_MODEL="/no/such/model")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "ImproperlyConfigured: SPEECHEMOTION_MODEL='/no/such/model' is not a directory.",
            result.stderr,
        )

    def test_it_reads_the_model_directory(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            result = _run_python(
                "import django; django.setup(); from django.conf import settings as s; "
                "print(s.SPEECHEMOTION_MODEL)",
                SPEECHEMOTION_MODEL=folder,
            )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), folder)
