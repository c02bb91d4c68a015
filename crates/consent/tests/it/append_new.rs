//! Reading a source of consent events again adds nothing: `ConsentStore::append_new`
//! leaves out changes already recorded, in this process or another.

use tessera_consent::{ConsentState, ConsentStore, LogLine};
use tessera_core::EntityHasher;

fn open(path: &std::path::Path) -> ConsentStore {
    ConsentStore::open_with(path.to_path_buf(), EntityHasher::from_key(b"test key")).unwrap()
}

#[test]
fn changes_already_recorded_are_not_appended_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consent.jsonl");
    let store = open(&path);
    let u1 = store.digest("user_id", "u1");
    let u2 = store.digest("user_id", "u2");
    let events = vec![
        LogLine::new(u1.clone(), "ads", ConsentState::Granted, 10, 99),
        LogLine::new(u1.clone(), "ads", ConsentState::Withdrawn, 20, 99),
        LogLine::new(u2.clone(), "ads", ConsentState::Granted, 10, 99),
        // Repeated within the batch.
        LogLine::new(u2.clone(), "ads", ConsentState::Granted, 10, 99),
    ];
    assert_eq!(store.append_new(&events).unwrap().len(), 3);
    assert!(!store.in_force(&u1, "ads", 25) && store.in_force(&u2, "ads", 25));
    let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines(), 3);
    // The same events again, from this store and from another process's.
    assert!(store.append_new(&events).unwrap().is_empty());
    let other = open(&path);
    assert!(other.append_new(&events).unwrap().is_empty());
    assert_eq!(lines(), 3);
    // A later event is new; the latest change by time wins whatever the order of reading.
    let later = vec![
        LogLine::new(u1.clone(), "ads", ConsentState::Granted, 30, 99),
        LogLine::new(u1.clone(), "ads", ConsentState::Withdrawn, 20, 99),
    ];
    assert_eq!(other.append_new(&later).unwrap().len(), 1);
    store.refresh().unwrap();
    assert!(!store.in_force(&u1, "ads", 25) && store.in_force(&u1, "ads", 35));
    // The same time with the other state is a change (the later record wins the tie).
    let flip = vec![LogLine::new(
        u2.clone(),
        "ads",
        ConsentState::Withdrawn,
        10,
        99,
    )];
    assert_eq!(store.append_new(&flip).unwrap().len(), 1);
    assert!(!store.in_force(&u2, "ads", 25));
    assert_eq!(lines(), 5);
}
