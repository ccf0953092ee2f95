"""The analyzer app's start: what it does differently in the queue worker's process."""

from __future__ import annotations

import sys
from unittest import mock

from django.apps import apps
from django.test import SimpleTestCase

from analyzer import apps as analyzer_apps


class WorkerStartTests(SimpleTestCase):
    def setUp(self) -> None:
        interval = sys.getswitchinterval()
        self.addCleanup(sys.setswitchinterval, interval)
        self.config = apps.get_app_config("analyzer")

    def test_the_worker_switches_threads_sooner_and_loads_the_model_beside_its_start(self) -> None:
        with (
            mock.patch.object(sys, "argv", ["manage.py", "procrastinate", "worker"]),
            mock.patch.object(analyzer_apps.threading, "Thread") as thread,
        ):
            self.config.ready()
        self.assertEqual(sys.getswitchinterval(), analyzer_apps.WORKER_SWITCH_INTERVAL_SECONDS)
        thread.assert_called_once()
        self.assertIs(thread.call_args.kwargs["target"], analyzer_apps._load_model)
        thread.return_value.start.assert_called_once()

    def test_other_processes_keep_pythons_switch_interval_and_load_no_model(self) -> None:
        sys.setswitchinterval(0.005)
        with (
            mock.patch.object(sys, "argv", ["manage.py", "runserver"]),
            mock.patch.object(analyzer_apps.threading, "Thread") as thread,
        ):
            self.config.ready()
        self.assertEqual(sys.getswitchinterval(), 0.005)
        thread.assert_not_called()
