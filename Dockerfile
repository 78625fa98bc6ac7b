# syntax=docker/dockerfile:1.7
# crosshedge: one image for every service of docker-compose.yml (workers per lane, the stage worker, beat).
#
#   docker build -t crosshedge:local .                   # runtime: workers, beat, every CLI command
#   docker build -t crosshedge:devnet --target devnet .  # + anvil and node, for the compose `devnet` profile
#
# Stages: `python-deps` installs the pinned dependency tree (requirements.lock) into /opt/venv and fails if anything
# unpinned slipped in; `build` installs the crosshedge package itself (no editable install: the source is not
# mounted at run time); `node-modules` runs `npm ci` from package-lock.json; `runtime` is a slim image running as
# an unprivileged user with the venv and the Uniswap/OpenZeppelin build artifacts (the adapters check venue
# contract code against them) and the read lens built by `lens`; `devnet` adds anvil and node.
#
# Base images are pinned to exact versions; pin them by digest too in your registry mirror
# (`docker buildx imagetools inspect python:3.11.14-slim-bookworm` prints it) -- not done here: no Docker engine
# or registry is reachable where this file is written and checked (.ci/check_deploy).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${PYTHON_IMAGE} AS python-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements.lock deploy/check_lock.py ./
# The runtime dependencies named in pyproject.toml, every version (transitive ones too) fixed by requirements.lock;
# the dev tools in the lock (pytest, mypy, ...) are not installed. check_lock.py fails the build on anything unpinned.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/runtime.txt \
    && pip install -c requirements.lock -r /tmp/runtime.txt \
    && pip install setuptools==80.9.0 wheel==0.45.1 \
    && python check_lock.py requirements.lock

FROM python-deps AS build
COPY README.md ./
COPY crosshedge ./crosshedge
COPY adapters ./adapters
COPY risk ./risk
COPY optimizer ./optimizer
COPY orchestrator ./orchestrator
COPY devnet ./devnet
# --no-build-isolation: build with the setuptools pinned above, not whatever the index serves today.
RUN pip install --no-deps --no-build-isolation . \
    && pip uninstall -y setuptools wheel \
    && crosshedge --help > /dev/null

FROM ${NODE_IMAGE} AS node-modules
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
    && mkdir -p /out/runtime /out/devnet/@foundry-rs \
    && mv node_modules/@foundry-rs/* /out/devnet/@foundry-rs/ \
    && rmdir node_modules/@foundry-rs \
    && mv node_modules /out/runtime/node_modules

# The read lens (adapters/rpc/lens/ReadLens.sol) compiled with the pinned npm solc, so the runtime image (no node)
# finds its build instead of compiling at first use; keyed by source, compiler and settings as on a workstation.
FROM build AS lens
COPY --from=node-modules /usr/local/bin/node /usr/local/bin/node
COPY --from=node-modules /out/runtime/node_modules /out/runtime/node_modules
RUN CROSSHEDGE_NODE_MODULES=/out/runtime/node_modules CROSSHEDGE_LENS_DIR=/out/lens python -m adapters.rpc.lens

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} crosshedge \
    && useradd --system --uid ${UID} --gid crosshedge --home-dir /var/lib/crosshedge --shell /usr/sbin/nologin \
        crosshedge \
    && install -d -o crosshedge -g crosshedge -m 0750 /var/lib/crosshedge \
    && install -d -m 0755 /etc/crosshedge
COPY --from=build /opt/venv /opt/venv
COPY --from=node-modules /out/runtime/node_modules /opt/crosshedge/node_modules
COPY --from=lens /out/lens /opt/crosshedge/lens
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/crosshedge-entrypoint
# The adapters read $CROSSHEDGE_NODE_MODULES; devnet/ looks beside the installed packages: both find the same tree.
RUN ln -s /opt/crosshedge/node_modules /opt/venv/lib/python3.11/site-packages/node_modules
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CROSSHEDGE_NODE_MODULES=/opt/crosshedge/node_modules \
    CROSSHEDGE_LENS_DIR=/opt/crosshedge/lens \
    CROSSHEDGE_CONFIG=/etc/crosshedge/chains.yaml \
    CROSSHEDGE_LOG_FORMAT=json
USER crosshedge
WORKDIR /var/lib/crosshedge
ENTRYPOINT ["crosshedge-entrypoint"]
CMD ["crosshedge", "--help"]

FROM runtime AS devnet
USER root
COPY --from=node-modules /usr/local/bin/node /usr/local/bin/node
COPY --from=node-modules /out/devnet/@foundry-rs /opt/crosshedge/node_modules/@foundry-rs
USER crosshedge
