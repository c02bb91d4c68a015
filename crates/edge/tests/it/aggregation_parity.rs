//! Device values equal a brute-force fold, with `tessera_aggregate`'s own monoid, of the
//! events in each window: the device runs the cloud's aggregation code, not a copy.

use std::collections::BTreeMap;

use tessera_aggregate::Row;
use tessera_edge::{Device, Event, Status};
use tessera_online::{KeyValue, Value};

use super::fixtures::{catalog, config, now_us};

/// A deterministic PRNG (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Ev = (i64, BTreeMap<String, Value>);

fn brute_force(catalog: &tessera_core::Catalog, events: &[Ev], at: i64) -> Vec<Value> {
    let view = catalog.view("recent_plays").unwrap();
    let spec = catalog.view_spec(view).unwrap().unwrap();
    spec.aggregations()
        .iter()
        .map(|a| {
            let start = a.window().start_at(at).unwrap_or(i64::MIN);
            let mut state = a.aggregation().new_state();
            for (ts, row) in events {
                if *ts < start || *ts > at {
                    continue;
                }
                if a.filter().is_some_and(|f| !f.eval(row)) {
                    continue;
                }
                let v = match a.column() {
                    Some(c) => Row::get(row, c).cloned().unwrap_or(Value::Null),
                    None => Value::Null,
                };
                state.update(&v, *ts);
            }
            state.finish()
        })
        .collect()
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float64(x), Value::Float64(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    }
}

#[test]
fn device_equals_brute_force_on_random_sessions() {
    let catalog = catalog();
    let names: Vec<String> = catalog
        .view("recent_plays")
        .unwrap()
        .features
        .iter()
        .map(|f| format!("recent_plays:{}", f.name))
        .collect();
    for seed in 1..=4u64 {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::open(dir.path(), catalog.clone(), config(None)).unwrap();
        let mut rng = Rng(seed);
        let now = now_us();
        let mut by_user: BTreeMap<i64, Vec<Ev>> = BTreeMap::new();
        let mut batch = Vec::new();
        for i in 0..300 {
            let user = 1 + rng.below(3) as i64;
            // Up to two days back, some on the same microsecond, some a little ahead.
            let ts = if i % 17 == 0 {
                now - 3_600_000_000
            } else {
                now - rng.below(2 * 86_400_000_000) as i64 + 1_000
            };
            let action = ["play", "skip", "like"][rng.below(3) as usize];
            let dwell = if rng.below(10) == 0 {
                None
            } else {
                Some(rng.below(400) as i64)
            };
            let item = 100 + rng.below(20) as i64;
            let genre = ["pop", "rock", "jazz", "folk"][rng.below(4) as usize];
            let mut e = Event::at_micros(ts)
                .with("user_id", user)
                .with("item_id", item)
                .with("action", action)
                .with("genre", genre);
            if let Some(d) = dwell {
                e = e.with("dwell_s", d);
            }
            batch.push(e);
            let mut row = BTreeMap::new();
            row.insert("user_id".to_string(), Value::Int64(user));
            row.insert("item_id".to_string(), Value::Int64(item));
            row.insert("action".to_string(), Value::from(action));
            row.insert("genre".to_string(), Value::from(genre));
            row.insert(
                "dwell_s".to_string(),
                dwell.map_or(Value::Null, Value::Int64),
            );
            by_user.entry(user).or_default().push((ts, row));
            if batch.len() == 50 {
                device
                    .record("device_plays", std::mem::take(&mut batch))
                    .unwrap();
            }
        }
        device.record("device_plays", batch).unwrap();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let users: Vec<KeyValue> = (1..=4).map(KeyValue::Int64).collect();
        let got = device
            .get(&refs, &[("user_id", users)], &Default::default())
            .unwrap();
        for (e, user) in (1..=4i64).enumerate() {
            let at = got.at(0, e).unwrap().event_ts.unwrap();
            let expected = brute_force(&catalog, by_user.get(&user).map_or(&[][..], |v| v), at);
            for (i, want) in expected.iter().enumerate() {
                let v = got.at(i, e).unwrap();
                let have = v.value.clone();
                assert!(
                    close(&have, want),
                    "seed {seed}, user {user}, {}: device {have:?}, brute force {want:?}",
                    names[i]
                );
                let status = if *v.value == Value::Null {
                    Status::Null
                } else {
                    Status::Present
                };
                assert_eq!(v.status, status);
            }
        }
        // A restart reads the same values from the store.
        drop(device);
        let again = Device::open(dir.path(), catalog.clone(), config(None)).unwrap();
        let reread = again
            .get(
                &refs,
                &[("user_id", vec![KeyValue::Int64(1)])],
                &Default::default(),
            )
            .unwrap();
        let at = reread.at(0, 0).unwrap().event_ts.unwrap();
        let expected = brute_force(&catalog, &by_user[&1], at);
        for (i, want) in expected.iter().enumerate() {
            assert!(
                close(reread.at(i, 0).unwrap().value, want),
                "after restart: {}",
                names[i]
            );
        }
    }
}
