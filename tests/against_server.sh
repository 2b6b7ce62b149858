#!/usr/bin/env bash
# The portable tests (pytest -m portable) against an API server in another process,
# `certmgr dev cluster`, reached only through its kubeconfig as a real cluster would be
# (docs/simulator.md, "Against a real API server"). Usage: tests/against_server.sh [BIN]
set -euo pipefail
bin=${1:-.venv/bin}
dir=$(mktemp -d)
"$bin/certmgr" dev cluster --kubeconfig "$dir/kubeconfig" --crds crds/ >"$dir/cluster.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 300); do
  grep -q '^kubeconfig written to' "$dir/cluster.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/cluster.log"; exit 1; }
  sleep 0.1
done
grep -q '^kubeconfig written to' "$dir/cluster.log" || { cat "$dir/cluster.log"; exit 1; }
CERTMGR_TEST_KUBECONFIG="$dir/kubeconfig" "$bin/pytest" -m portable -q "${@:2}"
