from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command
from django.test import TestCase

from api.tests.helpers import KeyClient


class SchemaTests(TestCase):
    def test_it_serves_an_openapi_3_schema_with_every_path(self) -> None:
        response = self.client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")

        self.assertEqual(response.status_code, 200)
        schema = response.json()
        self.assertTrue(schema["openapi"].startswith("3."))
        self.assertEqual(
            sorted(schema["paths"]),
            [
                "/api/v1/analyses/",
                "/api/v1/analyses/export.csv",
                "/api/v1/analyses/export.json",
                "/api/v1/analyses/{id}/",
                "/api/v1/analyses/{id}/audio/",
                "/api/v1/analyses/{id}/export.csv",
                "/api/v1/analyses/{id}/export.json",
            ],
        )
        post = schema["paths"]["/api/v1/analyses/"]["post"]
        self.assertIn("multipart/form-data", post["requestBody"]["content"])
        # 200: the same file again (see test_duplicates).
        self.assertEqual(sorted(post["responses"])[:4], ["200", "201", "202", "400"])
        schemes = schema["components"]["securitySchemes"]
        self.assertEqual(schemes["bearerKey"], {**schemes["bearerKey"], "scheme": "bearer"})

    def test_it_serves_the_docs_with_local_scripts_only(self) -> None:
        response = self.client.get("/api/v1/docs/")

        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertIn('<div id="swagger-ui">', html)
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        self.assertEqual(len(scripts), 3)
        for attributes, body in scripts:
            # No inline code (the CSP would block it) and nothing from another origin.
            self.assertEqual(body.strip(), "")
            src = re.search(r'src="([^"]+)"', attributes)[1]
            self.assertTrue(src.startswith("/"), src)
            self.assertEqual(self.client.get(src).status_code, 200, src)
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', html)[1]
        self.assertTrue(stylesheet.startswith("/static/"), stylesheet)
        self.assertNotIn("'unsafe-eval'", response["Content-Security-Policy"])

    def test_it_does_not_ask_for_a_key_to_read_the_schema(self) -> None:
        response = KeyClient("se_unknown").get("/api/v1/schema/")

        # An unknown key is still refused; none at all is fine (see above).
        self.assertEqual(response.status_code, 401)

    def test_it_generates_the_schema_without_warnings(self) -> None:
        out = StringIO()

        # --fail-on-warn: a view or field drf-spectacular cannot describe fails the test.
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

        self.assertIn("/api/v1/analyses/{id}/audio/", out.getvalue())
