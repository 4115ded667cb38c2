# o2kit in a container: plan/apply/validate/render/export against the repository mounted at /work.
#
#   docker build -t o2kit .
#   docker run --rm -v "$PWD:/work" o2kit validate
#   docker run --rm -v "$PWD:/work" -e OPENOBSERVE_URL -e OPENOBSERVE_USER \
#     -e OPENOBSERVE_PASSWORD -e SLACK_WEBHOOK_URL o2kit plan
#
# Only the core package (`pip install .`: plan, apply, validate, render, export), no test or
# optional extras unless asked for with EXTRAS below. Runs as an unprivileged
# user (uid 10001); commands that write into the repository (render, export) need
# `--user "$(id -u):$(id -g)"` so the files belong to you. Credentials come only from `-e` at run
# time: nothing secret is built into the image.
#
# Base: python:3.11-slim-trixie pinned by the digest docker-library/repo-info records for it
# (Python 3.11.15, built 2026-08-05), in both stages; Dependabot (.github/dependabot.yml) proposes
# newer digests.

# Build the wheel in a throw-away stage, so the image carries no build tools or sources.
FROM python:3.11-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
# o2kit's cache (validate/plan/apply) stays inside the container, not in the mounted repository
# as files of uid 10001; pass -e O2KIT_CACHE_DIR=/work/.o2kit/cache to keep it between runs.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    O2KIT_CACHE_DIR=/tmp/o2kit-cache
# Optional extras, e.g. `--build-arg EXTRAS=local` for `o2kit test` and `check` (default: none).
ARG EXTRAS=""
COPY --from=build /wheels /wheels
RUN set -eu; wheel="$(ls /wheels/o2kit-*.whl)"; \
    python -m pip install "${wheel}${EXTRAS:+[$EXTRAS]}" \
 && rm -rf /wheels \
 && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin o2kit
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["o2kit"]
CMD ["--help"]
