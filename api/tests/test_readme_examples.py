"""The README's API examples (curl and Python), run as written against a live server."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.db import connection
from django.test import LiveServerTestCase

from analyzer import processing
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    background_worker,
    fake_recognizer,
    make_user,
    speech_wav,
)

README = Path(settings.BASE_DIR) / "README.md"
README_URL = "http://127.0.0.1:8000"


def _readme_block(language: str) -> str:
    """The first ``language`` code block of the README's "API" section."""
    section = README.read_text(encoding="utf-8").split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S)[1]


def _test_database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}{port}/{db['NAME']}"


class ReadmeExampleTests(QueueMixin, TempMediaMixin, LiveServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        make_user("ada")
        self.folder = Path(self.enterContext(tempfile.TemporaryDirectory(prefix="se-readme-")))
        (self.folder / "speech.wav").write_bytes(speech_wav())
        self.enterContext(
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer())
        )
        self.enterContext(background_worker())

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_it_runs_the_curl_example(self) -> None:
        script = _readme_block("sh")
        script = script.replace(
            "python manage.py", f"{sys.executable} {settings.BASE_DIR}/manage.py"
        )
        script = script.replace(README_URL, self.live_server_url)
        env = {**os.environ, "DATABASE_URL": _test_database_url()}

        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        self.assertEqual(result.returncode, 0, result.stderr)
        body = json.loads(result.stdout)
        self.assertEqual(
            (body["status"], body["emotion"], body["headline"]), ("done", "sad", "Sad")
        )

    def test_it_runs_the_python_example(self) -> None:
        from api.tests.helpers import new_key

        code = _readme_block("python").replace(README_URL, self.live_server_url)
        out = io.StringIO()

        with contextlib.chdir(self.folder), contextlib.redirect_stdout(out):
            exec(code, {"key": new_key("ada")})  # noqa: S102  (the README's own example)

        self.assertTrue(out.getvalue().startswith("done Sad {"), out.getvalue())
