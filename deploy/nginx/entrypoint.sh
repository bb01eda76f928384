#!/bin/sh
# Starts the proxy, first making a self-signed certificate when none is mounted, so that
# `docker compose up` serves HTTPS at once (browsers warn until a real certificate is in place).
set -eu
tls="${TLS_DIRECTORY:-/etc/nginx/tls}"
name="${SERVER_NAME:-localhost}"
if [ ! -s "$tls/fullchain.pem" ] || [ ! -s "$tls/privkey.pem" ]; then
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$name" \
        -addext "subjectAltName=DNS:$name" \
        -keyout "$tls/privkey.pem" -out "$tls/fullchain.pem" 2>/dev/null
fi
exec "$@"
