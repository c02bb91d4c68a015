#!/usr/bin/env bash
# Write a Tessera feature repo over a benchmark data set made by bench/gen_data.py.
#
# usage: bench/tessera_repo.sh DATA_DIR REPO_DIR
#
# Creates REPO_DIR/tessera.yaml and REPO_DIR/features/users.yaml: entity `user`
# (join key user_id), batch source over DATA_DIR/user_stats.parquet (absolute path,
# event_timestamp / created), feature view `user_stats` (ttl 7d, f0..f9 float64,
# i0..i4 int64, all `internal`) and a `training` purpose.  Existing files with those
# two names are overwritten; nothing else in REPO_DIR is touched (delete the directory
# yourself for a clean registry/online store).
set -euo pipefail

die() { echo "tessera_repo.sh: $*" >&2; exit 2; }

[ $# -eq 2 ] || die "usage: $0 DATA_DIR REPO_DIR"
DATA_IN=$1
REPO=$2
[ -d "$DATA_IN" ] || die "data dir '$DATA_IN' does not exist"
DATA=$(cd "$DATA_IN" && pwd -P)
[ -f "$DATA/user_stats.parquet" ] || die "'$DATA/user_stats.parquet' is missing (run bench/gen_data.py)"
case "$DATA" in
  *[[:space:]\'\"\#:\{\}\[\],]*) die "data dir path '$DATA' has characters this YAML writer does not quote" ;;
esac

mkdir -p "$REPO/features"

cat > "$REPO/tessera.yaml" <<'EOF'
project: bench
registry: .tessera/registry
offline_store: { path: data/offline }
online_store: { type: embedded, path: .tessera/online }
audit_log: .tessera/audit
EOF

{
  cat <<EOF
entities:
  - { name: user, join_keys: [user_id] }
sources:
  - { name: user_stats_src, type: batch, path: $DATA/user_stats.parquet, timestamp_field: event_timestamp, created_timestamp_field: created }
feature_views:
  - name: user_stats
    entities: [user]
    source: user_stats_src
    ttl: 7d
    features:
EOF
  for j in 0 1 2 3 4 5 6 7 8 9; do
    echo "      - { name: f$j, type: float64, classification: internal }"
  done
  for j in 0 1 2 3 4; do
    echo "      - { name: i$j, type: int64, classification: internal }"
  done
  cat <<'EOF'
purposes:
  - { name: training, allows: [public, internal, personal] }
EOF
} > "$REPO/features/users.yaml"

echo "tessera_repo.sh: wrote $REPO/tessera.yaml and $REPO/features/users.yaml (data $DATA)"
