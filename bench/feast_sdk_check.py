#!/usr/bin/env python3
"""Feast's own Python SDK (0.67) against `tessera serve`, unchanged: a Feast repo whose
online store is `{type: remote, path: URL}` and whose auth is `{type: kubernetes,
user_token: TOKEN}` (the SDK then sends `Authorization: Bearer TOKEN`).

Checks, printing each result:
  1. get_online_features(features=[15 refs], entity_rows=[...]).to_dict(): values for a known
     user, None for an unknown one, columns in request order;
  2. write_to_online_store("user_stats", df) (POST /write-to-online-store) then read back;
  3. push("user_stats_push", df) (POST /push; Tessera maps the name to a source or view) —
     reported, not required (see below);
  4. an invalid token is refused (the SDK raises with the server's 401 message).

usage (Feast venv): /tmp/feastenv/bin/python bench/feast_sdk_check.py --url http://127.0.0.1:6570 \
    --token "$TESSERA_BENCH_TOKEN" [--data /tmp/tessera-bench/m1e6] [--feast-repo DIR]
The Feast definitions (entity `user`, FileSource + PushSource `user_stats_push`, view
`user_stats`) are written inline below (FEATURES_PY), so the script needs nothing outside
this repository; --feast-repo DIR uses DIR/features.py instead.
The Tessera repo must serve a view `user_stats` (f0..f9 float64, i0..i4 int64, key user_id)
with an unlimited TTL and a consumer holding the token with a default purpose and
`writes: [user_stats_src]` (checks 2 and 3 write), as bench/online_bench.sh sets up. Exits 1
on a failed check.
"""
import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The Feast repo definition (Feast 0.67): entity `user` (user_id int64), a FileSource over
# DATA/user_stats.parquet wrapped in a PushSource `user_stats_push`, FeatureView `user_stats`
# (15 features). The data directory comes from FEAST_ANCHOR_DATA (set from --data).
FEATURES_PY = '''
import os
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float64, Int64

DATA_DIR = os.environ.get("FEAST_ANCHOR_DATA", "/tmp/tessera-bench/m1e6")

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
user_stats_source = FileSource(
    name="user_stats_source",
    path=os.path.join(DATA_DIR, "user_stats.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
user_stats_push = PushSource(name="user_stats_push", batch_source=user_stats_source)
user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=7),
    schema=[Field(name=f"f{j}", dtype=Float64) for j in range(10)]
    + [Field(name=f"i{j}", dtype=Int64) for j in range(5)],
    online=True,
    source=user_stats_push,
)
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--feast-repo", default=None, help="use DIR/features.py instead of the inline definitions")
    ap.add_argument("--data", default="/tmp/tessera-bench/m1e6")
    a = ap.parse_args()

    import pandas as pd
    from feast import FeatureStore
    from feast.data_source import PushMode

    tmp = Path(tempfile.mkdtemp(prefix="feast-sdk-check-"))
    if a.feast_repo:
        shutil.copy(Path(a.feast_repo) / "features.py", tmp / "features.py")
    else:
        (tmp / "features.py").write_text(FEATURES_PY)
    (tmp / "feature_store.yaml").write_text(
        f"""project: anchors
provider: local
registry: {tmp}/registry.db
online_store:
    type: remote
    path: {a.url}
offline_store:
    type: file
entity_key_serialization_version: 3
auth:
    type: kubernetes
    user_token: {a.token}
"""
    )
    os.environ["FEAST_ANCHOR_DATA"] = a.data
    sys.path.insert(0, str(tmp))
    import features as defs  # noqa: E402

    fs = FeatureStore(repo_path=str(tmp))
    fs.apply([defs.user, defs.user_stats_source, defs.user_stats_push, defs.user_stats])
    refs = [f"user_stats:f{j}" for j in (3, 1, 0)] + ["user_stats:i4"] + [
        f"user_stats:f{j}" for j in (2, 4, 5, 6, 7, 8, 9)] + [f"user_stats:i{j}" for j in (0, 1, 2, 3)]
    failed = 0

    def check(name, ok, detail=""):
        nonlocal failed
        print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))
        failed += 0 if ok else 1

    out = fs.get_online_features(features=refs, entity_rows=[{"user_id": 42}, {"user_id": 99999999}]).to_dict()
    want_cols = ["user_id"] + [r.split(":")[1] for r in refs]
    check("1. columns in request order", list(out.keys()) == want_cols, str(list(out.keys())))
    check("1. known user has values", all(out[c][0] is not None for c in want_cols), str({c: out[c][0] for c in want_cols[:4]}))
    check("1. unknown user is None", all(out[c][1] is None for c in want_cols[1:]))

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    row = {"user_id": [987654321], "event_timestamp": [now], "created": [now]}
    row.update({f"f{j}": [j + 0.25] for j in range(10)})
    row.update({f"i{j}": [j * 10] for j in range(5)})
    fs.write_to_online_store("user_stats", pd.DataFrame(row))
    back = fs.get_online_features(features=["user_stats:f2", "user_stats:i3"], entity_rows=[{"user_id": 987654321}]).to_dict()
    check("2. write_to_online_store then read back", back["f2"] == [2.25] and back["i3"] == [30], str(back))

    row["f2"] = [7.75]
    row["event_timestamp"] = [now + dt.timedelta(seconds=1)]
    try:
        fs.push("user_stats_push", pd.DataFrame(row), to=PushMode.ONLINE)
        back = fs.get_online_features(features=["user_stats:f2"], entity_rows=[{"user_id": 987654321}]).to_dict()
        print(f"info 3. push via the SDK then read back: {back}")
    except Exception as e:  # the SDK may resolve push sources locally; report only
        print(f"info 3. push via the SDK raised {type(e).__name__}: {str(e)[:200]}")

    bad = tmp / "bad"
    bad.mkdir()
    (bad / "feature_store.yaml").write_text((tmp / "feature_store.yaml").read_text().replace(a.token, "not-the-token"))
    try:
        FeatureStore(repo_path=str(bad)).get_online_features(features=refs[:1], entity_rows=[{"user_id": 42}]).to_dict()
        check("4. invalid token refused", False, "no error")
    except Exception as e:
        check("4. invalid token refused", "401" in str(e), str(e)[:160])
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
