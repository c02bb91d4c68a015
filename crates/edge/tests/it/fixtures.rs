//! Definitions and helpers shared by the tests.

use tessera_core::Catalog;

/// The cloud's definitions: what `tessera serve` registers (CSV batch sources).
pub(crate) const CLOUD_DEFINITIONS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: user_daily, type: batch, path: data/user_daily.csv, timestamp_field: event_timestamp }
  - { name: item_catalog, type: batch, path: data/items.csv, timestamp_field: added_at }
feature_views:
  - name: user_activity
    entities: [user]
    source: user_daily
    ttl: 3650d
    features:
      - { name: plays_1d, type: int64, classification: personal }
      - { name: top_genre_1d, type: string, classification: personal }
  - name: item_content
    entities: [item]
    source: item_catalog
    features:
      - { name: genre, type: string, classification: public }
      - { name: duration_s, type: int64, classification: public }
purposes:
  - { name: ranking, allows: [public, internal, personal] }
consumers:
  - { name: player_app, token_env: TESSERA_TOKEN_PLAYER_APP, purposes: [ranking] }
"#;

/// The device's own definitions: two device sources and the views over them.
pub(crate) const DEVICE_DEFINITIONS: &str = r#"
sources:
  - name: device_plays
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, item_id: int64, dwell_s: int64, action: string, genre: string } }
  - name: device_context
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, locale: string, network: string } }
feature_views:
  - name: recent_plays
    entities: [user]
    source: device_plays
    classification: personal
    aggregations:
      - { function: count, windows: [1h, 1d], placement: device_only }
      - { column: dwell_s, function: sum, windows: [1h, 1d], placement: device_only }
      - { column: dwell_s, function: mean, windows: [1d], placement: device_only }
      - { column: item_id, function: last_k, k: 5, windows: [1d], placement: device_only }
      - { column: genre, function: count_distinct, windows: [1d], placement: device }
      - { function: count, windows: [1h], filter: "action = 'skip'", name: skips, placement: device_only }
      - { column: dwell_s, function: p90, windows: [1d], placement: device_only }
      - { column: dwell_s, function: max, windows: [lifetime], placement: device_only }
  - name: session_context
    entities: [user]
    source: device_context
    ttl: 1h
    features:
      - { name: locale, type: string, classification: personal, placement: device_only }
      - { name: network, type: string, classification: internal, placement: device_only }
"#;

/// The cloud's and the device's definitions together, validated.
pub(crate) fn catalog() -> Catalog {
    let parse = |y: &str, f: &str| tessera_core::Definitions::from_yaml_str(y, f.as_ref()).unwrap();
    Catalog::build(vec![
        parse(CLOUD_DEFINITIONS, "cloud.yaml"),
        parse(DEVICE_DEFINITIONS, "device.yaml"),
    ])
    .unwrap()
}

/// A device configuration reading for `ranking`.
pub(crate) fn config(server: Option<String>) -> tessera_edge::DeviceConfig {
    tessera_edge::DeviceConfig {
        server_url: server,
        token: Some("device-test-token-0123456789".into()),
        purpose: "ranking".into(),
        ..Default::default()
    }
}

/// Now, µs since the epoch.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}
