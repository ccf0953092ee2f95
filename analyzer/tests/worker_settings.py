"""Settings for worker processes that tests start: the model is a slow stand-in.

``DJANGO_SETTINGS_MODULE=analyzer.tests.worker_settings python manage.py procrastinate worker``
runs a real worker whose analyses take ``SLOW_MODEL_SECONDS`` per window, long enough to
kill the worker in the middle of one, and without loading TensorFlow.
"""

from speechemotion.settings import *  # noqa: F403

PROCRASTINATE_ON_APP_READY = "analyzer.tests.worker_settings.use_slow_fake_model"
SLOW_MODEL_SECONDS = 0.4


class SlowFakeRecognizer:
    """Hears "calm" in every window, after a pause."""

    name = "slow-fake-model"
    sha256 = "ef" * 32
    meta = {"name": name}  # no clarity rule, no card: the defaults

    def predict_signal(self, signal, *, check_speech=True):
        import time

        from ml.labels import EMOTION_NAMES, Emotion
        from ml.recognizer import Prediction

        time.sleep(SLOW_MODEL_SECONDS)
        probabilities = {name: 0.3 / 7 for name in EMOTION_NAMES} | {"calm": 0.7}
        return Prediction(Emotion.CALM, 0.7, probabilities)


def use_slow_fake_model(app):
    from analyzer import processing

    processing.get_recognizer = lambda path=None: SlowFakeRecognizer()
