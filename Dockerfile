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
COPY requirements.txt .
RUN pip install -r requirements.txt

# Only what the service runs; .venv, .pgdata and media never enter the image.
COPY manage.py ./
COPY speechemotion/ speechemotion/
COPY analyzer/ analyzer/
COPY ml/ ml/
COPY templates/ templates/

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/media \
    && chown -R app:app /app/media
USER app

EXPOSE 8000

# Development server for now; docker-compose.yml runs migrations first.
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]
