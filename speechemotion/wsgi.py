"""WSGI entry point, e.g. ``gunicorn speechemotion.wsgi``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "speechemotion.settings")

application = get_wsgi_application()
