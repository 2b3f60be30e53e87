# Minyi: production image (PostgreSQL via MINYI_DATABASE_URL, Redis shared by replicas via
# MINYI_REDIS_URL; compose.yaml runs several behind a proxy, docs/deployment.md explains).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 minyi
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY surveys ./surveys
COPY analytics ./analytics
COPY frontend ./frontend
RUN pip install . && mkdir -p /data && chown minyi:minyi /data

USER minyi
WORKDIR /data
ENV MINYI_ENVIRONMENT=production \
    MINYI_DATABASE_URL=sqlite:////data/minyi.db \
    MINYI_SECRET_KEY_FILE=/data/minyi.secret
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["minyi", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
