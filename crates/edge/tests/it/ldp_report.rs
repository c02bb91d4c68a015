//! Local-DP reports from a device to a real `tessera serve`, through the recording proxy:
//! the request holds the report and nothing else (no identifier, no other feature, no
//! device value); the device's cap refuses a report beyond it, also after a restart; the
//! server's estimate counts exactly the reports sent.

use std::time::Duration;

use tessera_edge::wire_capture::{http_messages, CaptureProxy};
use tessera_edge::{Device, Event};
use tessera_ldp::wire::decode_header;
use tessera_online::KeyValue;

use super::fixtures::{config, now_us, CLOUD_DEFINITIONS, DEVICE_DEFINITIONS};
use super::wire_capture::{run, start_server, tessera_bin, TOKEN};

const LDP_DEFINITIONS: &str = r#"
sources:
  - name: device_listening
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, genre: string } }
feature_views:
  - name: device_taste
    entities: [user]
    source: device_listening
    ttl: 30d
    features:
      - { name: genre, type: string, classification: personal, placement: device_only }
ldp_reports:
  - name: genre_plays
    feature: device_taste:genre
    domain: { values: [zzsecretgenre, pop, rock] }
    mechanism: cms
    epsilon: 2
    k: 8
    m: 1000
    cap: { epsilon: 4, per: 1d }
"#;

#[test]
fn ldp_report_carries_only_the_report_and_the_cap_survives_restarts() {
    let bin = tessera_bin();
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(
        repo.join("tessera.yaml"),
        "project: ldp\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n",
    )
    .unwrap();
    // The app's consumer may send this report (`POST /v1/ldp/reports` refuses others).
    let cloud = CLOUD_DEFINITIONS.replace(
        "purposes: [ranking] }",
        "purposes: [ranking], ldp_reports: [genre_plays] }",
    );
    assert_ne!(cloud, CLOUD_DEFINITIONS);
    std::fs::write(repo.join("features/cloud.yaml"), cloud).unwrap();
    std::fs::write(repo.join("features/device.yaml"), DEVICE_DEFINITIONS).unwrap();
    std::fs::write(repo.join("features/ldp.yaml"), LDP_DEFINITIONS).unwrap();
    std::fs::write(
        repo.join("data/user_daily.csv"),
        "user_id,event_timestamp,plays_1d,top_genre_1d\n7,2026-01-01T00:00:00Z,11,jazz\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("data/items.csv"),
        "item_id,added_at,genre,duration_s\n4242,2026-01-01T00:00:00Z,ambient,215\n",
    )
    .unwrap();
    let r = repo.to_str().unwrap();
    run(&bin, &["apply", "--repo", r]);
    let (server, addr) = start_server(&bin, r);
    let proxy = CaptureProxy::start(addr).unwrap();

    let open = || {
        let catalog = tessera_edge::catalog_from_repo(&repo).unwrap();
        let mut cfg = config(Some(proxy.url()));
        cfg.token = Some(TOKEN.into());
        cfg.remote_timeout = Duration::from_secs(5);
        Device::open(&d.path().join("device"), catalog, cfg).unwrap()
    };
    let device = open();
    let now = now_us();
    device
        .record(
            "device_listening",
            vec![Event::at_micros(now - 1_000_000)
                .with("user_id", 7_777_777)
                .with("genre", "zzsecretgenre")],
        )
        .unwrap();
    device
        .record(
            "device_plays",
            vec![Event::at_micros(now - 2_000_000)
                .with("user_id", 7_777_777)
                .with("item_id", 9_191_919)
                .with("dwell_s", 987_654)
                .with("action", "play")
                .with("genre", "zzsecretgenre")],
        )
        .unwrap();
    let user = || KeyValue::Int64(7_777_777);

    // Two reports of ε = 2 fit the cap of ε = 4 per day.
    let first = device.ldp_report("genre_plays", "user_id", user()).unwrap();
    assert_eq!((first.epsilon, first.remaining), (2.0, 2.0));
    let second = device.ldp_report("genre_plays", "user_id", user()).unwrap();
    assert_eq!(second.remaining, 0.0);
    // A third is refused on the device, whatever the app asks; nothing is sent.
    let err = device
        .ldp_report("genre_plays", "user_id", user())
        .unwrap_err();
    assert!(
        matches!(
            err,
            tessera_edge::Error::Ldp(tessera_ldp::Error::CapExceeded { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("only ε = 0 of the cap ε = 4 per 1d is left"),
        "{err}"
    );
    assert_eq!(device.ldp_remaining("genre_plays").unwrap(), 0.0);
    device.close().unwrap();

    // A restart does not reset the cap.
    let device = open();
    let err = device
        .ldp_report("genre_plays", "user_id", user())
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    device.close().unwrap();

    // The server counted exactly the two reports sent.
    let estimate = run(
        &bin,
        &[
            "ldp",
            "estimate",
            "--repo",
            r,
            "--report",
            "genre_plays",
            "--purpose",
            "ranking",
            "--json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&estimate).unwrap();
    assert_eq!(doc["reports"], 2, "{doc}");
    drop(server);

    // On the wire: two requests to /v1/ldp/reports, each body exactly one CMS report
    // (header with the report's name and parameters, a 2-byte row index and m bits).
    let cap = proxy.capture();
    let messages = http_messages(&cap.up);
    assert_eq!(messages.len(), 2, "{:?}", cap.text().0);
    for m in &messages {
        let head = String::from_utf8_lossy(m.head);
        assert!(head.starts_with("POST /v1/ldp/reports HTTP/1.1"), "{head}");
        let mut header_names: Vec<String> = head
            .lines()
            .skip(1)
            .map(|l| l.split(':').next().unwrap().to_ascii_lowercase())
            .collect();
        header_names.sort();
        // No header beyond these: nothing that tells one device from another but the
        // app's bearer token, which every device of the app shares.
        assert_eq!(
            header_names,
            ["authorization", "content-length", "content-type", "host"],
            "{head}"
        );
        let (header, start) = decode_header(m.body).unwrap();
        assert_eq!(header.report, "genre_plays");
        assert_eq!(header.count, 1);
        assert_eq!(m.body.len(), start + 2 + 1000usize.div_ceil(8));
    }
    let (up, _) = cap.text();
    for secret in [
        "zzsecretgenre",
        "7777777",
        "user_id",
        "device_taste",
        "device_listening",
        "device_plays",
        "9191919",
        "987654",
        "recent_plays",
    ] {
        assert!(!up.contains(secret), "`{secret}` went to the cloud:\n{up}");
    }
}
