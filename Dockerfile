# One image for both processes: `almanac serve` (default) and `almanac scheduler`.
FROM python:3.12-slim
ENV PATH=/opt/almanac/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALMANAC_HOST=0.0.0.0 \
    ALMANAC_DATA_DIR=/data \
    ALMANAC_LOG_FORMAT=json
RUN useradd --system --uid 10001 --home-dir /srv/almanac almanac \
    && mkdir -p /data && chown almanac /data
WORKDIR /srv/almanac
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -m venv /opt/almanac \
    && mkdir -p app scheduler && touch app/__init__.py scheduler/__init__.py \
    && /opt/almanac/bin/pip install -e . \
    && rm -rf app scheduler
# The package runs from the source tree (templates and migrations sit beside it).
COPY alembic.ini docker-entrypoint.sh ./
COPY migrations ./migrations
COPY templates ./templates
COPY app ./app
COPY scheduler ./scheduler
USER almanac
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
ENTRYPOINT ["/srv/almanac/docker-entrypoint.sh"]
CMD ["serve"]
