#!/usr/bin/env bash
# Fetches the real data sets the tests use into a cache outside git (their licences forbid
# committing them): MovieLens 100K from the PyPI wheel recbole==1.2.1.
#   TESSERA_DATA_DIR (default ~/.cache/tessera/data) receives ml-100k/.
set -euo pipefail
DATA_DIR=${TESSERA_DATA_DIR:-$HOME/.cache/tessera/data}
WHEELS=${TESSERA_WHEEL_DIR:-$HOME/.cache/tessera/wheels}
PY=${PYTHON:-python3}
mkdir -p "$DATA_DIR" "$WHEELS"
if [ ! -f "$DATA_DIR/ml-100k/ml-100k.inter" ]; then
  ls "$WHEELS"/recbole-1.2.1-*.whl >/dev/null 2>&1 || \
    "$PY" -m pip download --quiet --no-deps --dest "$WHEELS" recbole==1.2.1
  WHL=$(ls "$WHEELS"/recbole-1.2.1-*.whl | head -n1)
  TMP=$(mktemp -d)
  "$PY" - "$WHL" "$TMP" <<'PYEOF'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("recbole/dataset_example/ml-100k/"):
            z.extract(n, out)
PYEOF
  rm -rf "$DATA_DIR/ml-100k"
  mv "$TMP/recbole/dataset_example/ml-100k" "$DATA_DIR/ml-100k"
  rm -rf "$TMP"
fi
echo "MovieLens 100K: $DATA_DIR/ml-100k"
