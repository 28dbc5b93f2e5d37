# paperbot: the chat bot, its database on a volume, health on :8080/healthz.
#   docker build -t paperbot .
#   docker run -d --env-file .env -v paperbot-data:/data paperbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies and code in one layer: the project is small and pure Python.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY seeds/__init__.py seeds/papers.jsonl seeds/lists.json ./seeds/
RUN pip install . && rm -rf build ./*.egg-info \
    && groupadd --system --gid 10001 paperbot \
    && useradd --system --uid 10001 --gid paperbot --home-dir /app --shell /usr/sbin/nologin paperbot \
    && mkdir /data \
    && chown paperbot:paperbot /data

# The database lives on the volume; the HTTP endpoint listens on every interface
# of the container so the health check and a Prometheus scraper can reach it.
ENV PAPERBOT_DB=/data/paperbot.db \
    PAPERBOT_HTTP_HOST=0.0.0.0 \
    PAPERBOT_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

USER paperbot

# The slim image has no curl: ask /healthz with Python (non-200 or no answer fails).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('PAPERBOT_HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

# docker stop sends SIGTERM; paperbot finishes in-flight sends and exits within 10 s.
STOPSIGNAL SIGTERM
CMD ["paperbot", "run"]
