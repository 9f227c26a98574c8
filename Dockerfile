# wecom-warden: slim, non-root; applies migrations, then serves (worker in-process by default).
FROM python:3.11-slim AS build
WORKDIR /srv/warden
COPY pyproject.toml README.md ./
COPY alembic ./alembic
COPY app ./app
COPY handlers ./handlers
COPY policies ./policies
# Editable install: the code runs from /srv/warden, where `wecom-warden migrate` finds alembic/
# beside app/ (the same layout as a checkout). The runtime stage keeps both paths unchanged.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/venv/bin/pip install --no-cache-dir -e . \
    && find /srv/warden -name __pycache__ -prune -exec rm -rf {} +

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    WARDEN_DATABASE_URL=sqlite+aiosqlite:////data/wecom-warden.db
RUN useradd --system --uid 10001 --home-dir /data --no-create-home warden \
    && mkdir -p /data && chown warden /data
COPY --from=build /opt/venv /opt/venv
# Root-owned and read-only to the service user.
COPY --from=build /srv/warden /srv/warden
WORKDIR /data
USER warden
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["sh", "-c", "wecom-warden migrate && exec wecom-warden serve --host 0.0.0.0 --port 8080"]
