#!/usr/bin/env bash
# Runs real LLM SDKs, instrumented by real OpenTelemetry GenAI instrumentations, against a loopback
# stand-in for the provider APIs (fakeprovider.cjs), and sends or captures their spans over OTLP/HTTP.
#   run.sh send [http://127.0.0.1:4318]   send the five original clients' spans to a running collector
#   run.sh capture OUTDIR                 write the five original clients' OTLP/JSON request bodies to
#                                         OUTDIR/<client>.otlp.jsonl (testdata/realclients/<client>.otlp.jsonl)
#   run.sh cases OUTDIR                   run every cases-*.cjs client once per case (usage, stream,
#                                         stream-nousage, stream-stopped, ...) and write
#                                         OUTDIR/<emitter>[-<provider>]-<case>.otlp.jsonl
# The stand-in answers with the token usage written in the prompt (see fakeprovider.cjs).
# Needs node and npm; installs the pinned packages (package-lock.json) into ./node_modules of a
# writable copy of this folder ($REALCLIENTS_WORK, default /tmp/realclients).
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
work=${REALCLIENTS_WORK:-/tmp/realclients}
mkdir -p "$work"; cp -r "$src"/. "$work"/; chmod -R u+w "$work"; cd "$work"
for d in legacy modern latest; do [ -d $d/node_modules ] || (cd $d && npm ci --no-audit --no-fund --legacy-peer-deps --loglevel=error >/dev/null); done
PROVIDER_PORT=${PROVIDER_PORT:-18080}
node fakeprovider.cjs "$PROVIDER_PORT" >/dev/null & fp=$!
trap 'kill $fp 2>/dev/null; [ -n "${cap:-}" ] && kill $cap 2>/dev/null; true' EXIT
sleep 0.5
export PROVIDER=http://127.0.0.1:$PROVIDER_PORT
clients="legacy/client-otel-openai legacy/client-traceloop-openai legacy/client-traceloop-anthropic modern/client-openinference-openai modern/client-vercel-ai"
# capture_one OUT DIR SCRIPT [env...]: runs one client with a loopback OTLP sink writing OUT.
capture_one() {
  local out=$1 dir=$2 script=$3; shift 3
  rm -f "$out"
  node capture.cjs 14318 "$out" >/dev/null & cap=$!; sleep 0.5
  (cd "$dir" && env OTLP_ENDPOINT=http://127.0.0.1:14318 "$@" node "$script")
  sleep 0.5; kill $cap; cap=
}
case "${1:-send}" in
  send)
    export OTLP_ENDPOINT=${2:-http://127.0.0.1:4318}
    for c in $clients; do (cd "$(dirname $c)" && node "$(basename $c).cjs"); done ;;
  capture)
    out=$(mkdir -p "$2" && cd "$2" && pwd)
    for c in $clients; do
      name=$(basename $c); name=${name#client-}
      capture_one "$out/$name.otlp.jsonl" "$(dirname $c)" "client-$name.cjs"
    done ;;
  cases)
    out=$(mkdir -p "$2" && cd "$2" && pwd)
    openai="usage stream stream-nousage stream-stopped"; anthropic="usage stream stream-stopped"; usage="usage"
    vercel="openai-usage openai-stream openai-stream-stopped anthropic-usage anthropic-stream anthropic-stream-stopped"
    while read -r dir emitter cases; do
      for c in ${!cases}; do capture_one "$out/$emitter-$c.otlp.jsonl" "$dir" "cases-${emitter%7}.cjs" CASE="$c"; done
    done <<'LIST'
legacy traceloop-anthropic anthropic
legacy traceloop-bedrock usage
legacy traceloop-openai openai
legacy otel-openai openai
modern openinference-openai openai
modern openinference-anthropic anthropic
modern vercel-ai vercel
latest vercel-ai7 vercel
latest openlit-openai openai
latest openlit-anthropic anthropic
latest langfuse-openai openai
LIST
    ;;
  *) echo "usage: run.sh send [ENDPOINT] | run.sh capture OUTDIR | run.sh cases OUTDIR" >&2; exit 2 ;;
esac
