#!/usr/bin/env bash
# The device runtime must stay small: no DataFusion, axum or Redis (nor tonic, the gRPC
# server stack) in the normal dependency tree of tessera-edge, and, with its default
# features (what an embedding app gets), no clap either: the command line is the opt-in
# `cli` feature. Fails naming each one found and the path that pulls it in.
set -euo pipefail
cd "$(dirname "$0")/.."
banned='^(datafusion[a-z_-]*|axum[a-z_-]*|redis|tonic[a-z_-]*|clap[a-z_-]*) v'
tree=$(cargo tree -p tessera-edge -e normal --prefix none --locked)
found=$(grep -E "$banned" <<<"$tree" | sed 's/ (\*)$//' | sort -u || true)
if [ -n "$found" ]; then
    echo "tessera-edge must not depend on these crates:" >&2
    echo "$found" | sed 's/^/  /' >&2
    for c in $(echo "$found" | awk '{print $1}' | sort -u); do
        echo "-- what pulls in $c:" >&2
        cargo tree -p tessera-edge -e normal -i "$c" --locked 2>/dev/null | head -12 >&2 || true
    done
    exit 1
fi
echo "tessera-edge dependency tree (default features): no datafusion, axum, redis, tonic or clap ($(grep -c . <<<"$tree") entries)"
# With every feature (the command line and the capture proxy) the server stacks stay out.
banned_all='^(datafusion[a-z_-]*|axum[a-z_-]*|redis|tonic[a-z_-]*) v'
tree_all=$(cargo tree -p tessera-edge -e normal --all-features --prefix none --locked)
found_all=$(grep -E "$banned_all" <<<"$tree_all" | sed 's/ (\*)$//' | sort -u || true)
if [ -n "$found_all" ]; then
    echo "tessera-edge --all-features must not depend on these crates:" >&2
    echo "$found_all" | sed 's/^/  /' >&2
    exit 1
fi
echo "tessera-edge --all-features: no datafusion, axum, redis or tonic"
