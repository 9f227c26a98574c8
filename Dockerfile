# wecom-warden: slim, non-root; applies migrations, then serves (worker in-process by default).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY handlers ./handlers
COPY policies ./policies
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    WARDEN_DATABASE_URL=sqlite+aiosqlite:////data/wecom-warden.db
RUN useradd --system --uid 10001 --home /srv/warden warden \
    && mkdir -p /data /srv/warden && chown warden /data /srv/warden
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/warden
# alembic/ stays beside the package: `wecom-warden migrate` finds it relative to app/.
COPY --chown=warden alembic ./alembic
COPY --chown=warden app ./app
COPY --chown=warden handlers ./handlers
COPY --chown=warden policies ./policies
USER warden
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["sh", "-c", "wecom-warden migrate && exec wecom-warden serve --host 0.0.0.0 --port 8080"]
