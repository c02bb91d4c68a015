#!/usr/bin/env bash
# Write a Tessera feature repo for the window-aggregation backfill benchmark over data
# made by bench/gen_windows.py.
#
# usage: bench/window_repo.sh DATA_DIR REPO_DIR
#
# Entity `user` (user_id); batch source `events_src` over DATA_DIR/events.parquet
# (absolute path, timestamp_field ts); feature view `user_windows` (offline only) with
# 5 aggregations x 3 windows = 15 features:
#   dwell_s_sum_{1h,1d,7d}            sum of dwell_s
#   plays_{1d,7d,30d}                 count of events with action = 'play'
#   item_id_count_distinct_{1d,7d,30d}
#   dwell_s_mean_{1h,1d,7d}
#   dwell_s_max_{1h,1d,7d}
# and a purpose `training`. bench/window_peers.py expresses the same 15 in DuckDB SQL.
set -euo pipefail

die() { echo "window_repo.sh: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: $0 DATA_DIR REPO_DIR"
[ -d "$1" ] || die "data dir '$1' does not exist"
DATA=$(cd "$1" && pwd -P)
REPO=$2
[ -f "$DATA/events.parquet" ] || die "'$DATA/events.parquet' is missing (run bench/gen_windows.py)"
case "$DATA" in
  *[[:space:]\'\"\#:\{\}\[\],]*) die "data dir path '$DATA' has characters this YAML writer does not quote" ;;
esac
mkdir -p "$REPO/features"
cat > "$REPO/tessera.yaml" <<'EOF'
project: windowbench
registry: .tessera/registry
offline_store: { path: data/offline }
online_store: { type: embedded, path: .tessera/online }
audit_log: .tessera/audit
EOF
cat > "$REPO/features/windows.yaml" <<EOF
entities:
  - { name: user, join_keys: [user_id] }
sources:
  - { name: events_src, type: batch, path: $DATA/events.parquet, timestamp_field: ts }
feature_views:
  - name: user_windows
    entities: [user]
    source: events_src
    online: false
    classification: internal
    aggregations:
      - { column: dwell_s, function: sum, windows: [1h, 1d, 7d] }
      - { function: count, windows: [1d, 7d, 30d], filter: "action = 'play'", name: plays }
      - { column: item_id, function: count_distinct, windows: [1d, 7d, 30d] }
      - { column: dwell_s, function: mean, windows: [1h, 1d, 7d] }
      - { column: dwell_s, function: max, windows: [1h, 1d, 7d] }
purposes:
  - { name: training, allows: [public, internal, personal] }
EOF
echo "window_repo.sh: wrote $REPO/tessera.yaml and $REPO/features/windows.yaml (data $DATA)" >&2
