//! The local store: bad events are refused with every problem named, latest-value views
//! follow the newest event and their TTL, and everything survives a restart.

use tessera_edge::{Device, Error, Event, Status};
use tessera_online::{KeyValue, Value};

use super::fixtures::{catalog, config, now_us};

#[test]
fn bad_events_are_refused_whole_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(dir.path(), catalog(), config(None)).unwrap();
    let err = device
        .record(
            "device_plays",
            vec![
                Event::now()
                    .with("user_id", 1)
                    .with("dwell_s", "long")
                    .with("colour", "red"),
                Event::from_columns(vec![("user_id".into(), Value::Int64(2))]),
            ],
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::BadEvent { .. }), "{text}");
    assert!(
        text.contains("event 1: `dwell_s`: expected int64"),
        "{text}"
    );
    assert!(text.contains("event 1: unknown column `colour`"), "{text}");
    assert!(text.contains("event 2: the event has no time"), "{text}");
    let err = device
        .record("nope", vec![Event::now()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown device source `nope`")
            && err.contains("device_context, device_plays"),
        "{err}"
    );
    let err = device
        .record("device_plays", vec![Event::now().with("action", "play")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("join key `user_id` of view `recent_plays` is null"),
        "{err}"
    );
    // Nothing was applied.
    let got = device
        .get(
            &["recent_plays:count_1d"],
            &[("user_id", vec![KeyValue::Int64(1)])],
            &Default::default(),
        )
        .unwrap();
    assert_eq!(got.at(0, 0).unwrap().value, &Value::Int64(0));
    let err = device
        .get(
            &["recent_plays:nope"],
            &[("user_id", vec![KeyValue::Int64(1)])],
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("recent_plays:nope"), "{err}");
}

#[test]
fn latest_values_ttl_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_us();
    {
        let device = Device::open(dir.path(), catalog(), config(None)).unwrap();
        device
            .record(
                "device_context",
                vec![
                    Event::at_micros(now - 1_000_000)
                        .with("user_id", 1)
                        .with("locale", "de-DE")
                        .with("network", "wifi"),
                    Event::at_micros(now - 2_000_000)
                        .with("user_id", 1)
                        .with("locale", "fr-FR"),
                    Event::at_micros(now - 2 * 3_600_000_000)
                        .with("user_id", 2)
                        .with("locale", "it-IT"),
                ],
            )
            .unwrap();
        // An older event recorded later does not win.
        device
            .record(
                "device_context",
                vec![Event::at_micros(now - 5_000_000)
                    .with("user_id", 1)
                    .with("locale", "es-ES")],
            )
            .unwrap();
        device.close().unwrap();
    }
    let device = Device::open(dir.path(), catalog(), config(None)).unwrap();
    let got = device
        .get(
            &["session_context:*"],
            &[(
                "user_id",
                vec![KeyValue::Int64(1), KeyValue::Int64(2), KeyValue::Int64(3)],
            )],
            &Default::default(),
        )
        .unwrap();
    let locale = got.get("session_context:locale", 0).unwrap();
    assert_eq!(
        (locale.value, locale.status),
        (&Value::String("de-DE".into()), Status::Present)
    );
    assert_eq!(locale.event_ts, Some(now - 1_000_000));
    assert_eq!(
        got.get("session_context:network", 0).unwrap().value,
        &Value::String("wifi".into())
    );
    // Two hours old under a 1h TTL: expired, withheld.
    let old = got.get("session_context:locale", 1).unwrap();
    assert_eq!((old.value, old.status), (&Value::Null, Status::Expired));
    assert_eq!(
        got.get("session_context:locale", 2).unwrap().status,
        Status::Missing
    );
}
