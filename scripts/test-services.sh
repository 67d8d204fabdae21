#!/usr/bin/env bash
# Installs and starts everything the test suite needs, runs the command given
# as arguments with it, and stops it again on exit:
#
#   scripts/test-services.sh go test -race ./...
#
# `make test`, `make bench` and `.ci/run` all go through this script, so the
# whole suite runs the same way on a fresh clone as in CI. It provides:
#   - PostgreSQL: a throwaway cluster on 127.0.0.1 in a temp dir (socket there
#     too), port $GENAIMETER_TEST_POSTGRES_PORT (default 55432), exported as
#     GENAIMETER_TEST_POSTGRES_URL. Installed with apt-get when missing. When
#     GENAIMETER_TEST_POSTGRES_URL is already set, that server is used and none
#     is started.
#   - the Node.js end-to-end app's packages (npm ci in test/e2e/nodeapp, exact
#     versions from its package-lock.json; node and npm from apt when missing);
#   - stripe-mock v0.203.0 (go install) for the genai_billing Stripe v1 test;
#   - Debian's chromium for the browser tests of the web pages
#     (test/e2e/webui_test.go, driven by chromedp).
# The ocb builders are installed by the Makefile (v0.165.0) and by the
# end-to-end tests that build other manifests (test/e2e/ocb_test.go).
#
# CI=true is exported: with every service present, a test that would skip for
# want of one fails instead, so the suite can never pass by skipping.
#
# Installing needs root or sudo (apt-get, DEBIAN_FRONTEND=noninteractive so
# that tzdata does not wait for a time zone on stdin).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else echo "test-services: need root or sudo to run: $*" >&2; return 1; fi
}
apt_updated=
apt_install() {
	echo "== test-services: apt-get install $*"
	if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Node.js and the end-to-end app's packages
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
NODEAPP=test/e2e/nodeapp
# npm ci wipes and reinstalls node_modules: do it only when the lock file
# changed since the last install (stamp = its hash).
lock_sum="$(sha256sum "$NODEAPP/package-lock.json" | cut -d' ' -f1)"
stamp="$NODEAPP/node_modules/.genaimeter-lock.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
	echo "== test-services: npm ci --prefix $NODEAPP (node $(node --version), npm $(npm --version))"
	npm ci --prefix "$NODEAPP" --no-audit --no-fund --loglevel=error
	echo "$lock_sum" >"$stamp"
fi

# --- Chromium (headless, for test/e2e/webui_test.go and make screenshots)
if ! command -v chromium >/dev/null 2>&1; then
	apt_install chromium
fi

# --- stripe-mock
GOBIN_DIR="$(go env GOBIN)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH)/bin"
if ! command -v stripe-mock >/dev/null 2>&1 && [ ! -x "$GOBIN_DIR/stripe-mock" ]; then
	echo "== test-services: go install github.com/stripe/stripe-mock@v0.203.0"
	go install github.com/stripe/stripe-mock@v0.203.0
fi

# --- PostgreSQL
PG_DIR=
pg_as() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }
stop_services() {
	if [ -n "$PG_DIR" ]; then
		pg_as "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop" >/dev/null 2>&1 || true
		rm -rf "$PG_DIR"
	fi
}
trap stop_services EXIT
if [ -z "${GENAIMETER_TEST_POSTGRES_URL:-}" ]; then
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		apt_install postgresql
		# The package creates a "main" cluster on 5432 and starts it where
		# services may start: the tests use their own below, so stop it, not
		# to leave a server running.
		if command -v pg_lsclusters >/dev/null 2>&1; then
			pg_lsclusters --no-header | while read -r ver name _; do
				as_root pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
			done
		fi
	fi
	PG_BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
	PG_PORT="${GENAIMETER_TEST_POSTGRES_PORT:-${GENAIMETER_CI_POSTGRES_PORT:-55432}}"
	PG_DIR="$(mktemp -d)"
	# initdb refuses to run as root: run the cluster as the postgres user then.
	if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi
	pg_as "$PG_BIN/initdb -D $PG_DIR/data -A trust -U postgres" >/dev/null
	if ! pg_as "$PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR' -w start" >/dev/null; then
		cat "$PG_DIR/log" >&2 || true
		echo "test-services: PostgreSQL did not start on 127.0.0.1:$PG_PORT (port taken? set GENAIMETER_TEST_POSTGRES_PORT)" >&2
		exit 1
	fi
	export GENAIMETER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
	echo "== test-services: $("$PG_BIN/postgres" --version) on 127.0.0.1:$PG_PORT"
else
	echo "== test-services: PostgreSQL from GENAIMETER_TEST_POSTGRES_URL"
fi

export CI=true
# Not exec: the trap must stop the services when the command ends.
"$@"
