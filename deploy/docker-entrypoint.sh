#!/bin/sh
# crosshedge's container entrypoint: Docker secrets into the environment crosshedge reads, then the command.
#
#   VAR_FILE=/run/secrets/x      ->  VAR=<contents of x>  (the _FILE convention of the official images), so an RPC
#                                    URL with its key or a password never sits in docker-compose.yml, in
#                                    `docker inspect` or on a command line
#   CROSSHEDGE_REDIS_PASSWORD    ->  CROSSHEDGE_REDIS_URL=redis://:<password>@${CROSSHEDGE_REDIS_ADDR:-redis:6379}/0
#                                    (unless CROSSHEDGE_REDIS_URL is given); the password must be URL-safe
#                                    (`openssl rand -hex 32`)
#
# A secret that is named but cannot be read stops the container with one sentence (no half-configured worker).
set -eu

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*$/\1/p'); do
    file=$(printenv "${name}_FILE")
    if [ ! -r "$file" ]; then
        echo "crosshedge-entrypoint: ${name}_FILE=${file}: not readable by uid $(id -u) (see deploy/secrets.example/README.md)" >&2
        exit 1
    fi
    value=$(cat "$file")
    export "${name}=${value}"
    unset "${name}_FILE"
done

if [ -n "${CROSSHEDGE_REDIS_PASSWORD:-}" ] && [ -z "${CROSSHEDGE_REDIS_URL:-}" ]; then
    export CROSSHEDGE_REDIS_URL="redis://:${CROSSHEDGE_REDIS_PASSWORD}@${CROSSHEDGE_REDIS_ADDR:-redis:6379}/0"
fi
unset CROSSHEDGE_REDIS_PASSWORD

exec "$@"
