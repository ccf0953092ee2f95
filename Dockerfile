# Web image for speechemotion. Audio decoding needs no system packages:
# imageio-ffmpeg ships an ffmpeg binary and the soundfile wheel bundles libsndfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=speechemotion.settings

WORKDIR /app

# Requirements first, so that code changes do not reinstall TensorFlow.
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt

# Only what the service runs; .venv, .pgdata and media never enter the image (see also
# .dockerignore).
COPY manage.py gunicorn.conf.py ./
COPY speechemotion/ speechemotion/
COPY analyzer/ analyzer/
COPY accounts/ accounts/
COPY ml/ ml/
COPY templates/ templates/
# The model card, served read-only at /model/ and linked beside every result.
COPY docs/MODEL_CARD.md docs/MODEL_CARD.md

# The admin's CSS and JavaScript, hashed and compressed for whitenoise to serve. The
# settings refuse to load in production without a key and hosts; these two exist for
# this one command only and are not kept in the image.
RUN DEBUG=0 SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v 0

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/media \
    && chown -R app:app /app/media
USER app

# Production settings unless told otherwise: the container needs SECRET_KEY and
# ALLOWED_HOSTS (see .env.example). gunicorn reads the rest of its settings from the
# environment (gunicorn.conf.py).
ENV DEBUG=0 \
    GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000

# docker-compose.yml runs migrations first and the analysis worker beside this.
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
