//! The embedded store's compaction after an erasure, and the one byte scanner it shares
//! with `tessera erase --verify`.

use std::path::Path;

use tessera_online::{
    compact_embedded, compact_embedded_erasing, scan_file, scan_reader, EmbeddedStore, EntityKey,
    OnlineStore, Stamp, Value, WriteBatch, EMBEDDED_FILE_NAME,
};

fn holds(p: &Path, needle: &[u8]) -> bool {
    std::fs::read(p)
        .unwrap()
        .windows(needle.len())
        .any(|w| w == needle)
}

#[tokio::test]
async fn a_deleted_rows_bytes_are_gone_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let secret = "secret-value-of-user-7-xyzzy";
    let mut batch = WriteBatch::new("profile", vec!["name".into()]);
    for u in 0..2000i64 {
        let v = if u == 7 {
            secret.to_string()
        } else {
            format!("value-{u}")
        };
        batch.push(
            EntityKey::int("user_id", u),
            Stamp::new(1, 1),
            vec![Value::from(v)],
        );
    }
    store.write(batch).await.unwrap();
    assert_eq!(
        store
            .delete_entity(&EntityKey::int("user_id", 7))
            .await
            .unwrap(),
        1
    );
    store.close();
    let file = dir.path().join(EMBEDDED_FILE_NAME);
    let r = compact_embedded(dir.path()).unwrap().unwrap();
    assert!(r.after <= r.before, "{r:?}");
    assert!(
        !holds(&file, secret.as_bytes()),
        "the deleted value is still in the file"
    );
    assert!(holds(&file, b"value-1999"), "the other rows are kept");
}

#[tokio::test]
async fn an_erasing_compaction_leaves_no_key_reports_shared_values_and_keeps_other_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let secret = "secret-value-of-user-7-plugh";
    for view in ["profile", "activity"] {
        for round in 0..3 {
            let mut batch = WriteBatch::new(view, vec!["name".into(), "genre".into()]);
            for u in 0..3000i64 {
                let v = if u == 7 {
                    format!("{secret}-{round}")
                } else {
                    format!("{view}-value-{u}-{round}")
                };
                batch.push(
                    EntityKey::int("user_id", u),
                    Stamp::new(round + 1, 1),
                    vec![Value::from(v), Value::from("genre-shared-by-all")],
                );
            }
            store.write(batch).await.unwrap();
        }
    }
    let key = EntityKey::int("user_id", 7);
    store.delete_entity(&key).await.unwrap();
    store.close();
    let keys = vec![key.encode()];
    let values = [format!("{secret}-2"), "genre-shared-by-all".to_string()];
    let r = compact_embedded_erasing(dir.path(), &keys, &values)
        .unwrap()
        .unwrap();
    let file = dir.path().join(EMBEDDED_FILE_NAME);
    assert!(!holds(&file, secret.as_bytes()));
    assert!(!scan_file(&file, &keys).unwrap().any());
    assert_eq!(
        r.values_found,
        [false, true],
        "the entity's own value is gone; the one other rows hold is reported"
    );
    assert_eq!(r.bytes.after, std::fs::metadata(&file).unwrap().len());
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let rows = store
        .read("activity", &[EntityKey::int("user_id", 2999), key])
        .await
        .unwrap();
    assert!(rows[0].is_some() && rows[1].is_none());
}

#[tokio::test]
async fn an_erasing_compaction_of_a_directory_without_a_store_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let none: [&[u8]; 0] = [];
    assert!(compact_embedded_erasing(dir.path(), &[b"k"], &none)
        .unwrap()
        .is_none());
}

#[test]
fn a_needle_across_a_chunk_edge_is_found_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let edge = tessera_online::BYTE_SCAN_CHUNK;
    let mut bytes = vec![b'x'; edge + 3];
    bytes[edge - 2..edge + 2].copy_from_slice(b"abcd");
    std::fs::write(&p, &bytes).unwrap();
    let s = scan_file(&p, &[&b"abcd"[..], b"abce", b"", b"xxa"]).unwrap();
    let at = (edge - 2) as u64;
    assert_eq!(s.first, [Some(at), None, None, Some(at - 2)]);
    assert_eq!(s.bytes, bytes.len() as u64);
}

#[test]
fn small_chunks_give_the_offsets_a_whole_read_gives() {
    // Every needle, every chunk size from 1 byte: the first offset is the true one.
    let text = b"the quick brown fox jumps over the lazy dog; the dog sleeps".to_vec();
    let needles: Vec<&[u8]> = vec![b"the", b"dog", b"fox jumps", b"sleeps", b"cat", b"g; t"];
    let truth: Vec<Option<u64>> = needles
        .iter()
        .map(|n| {
            text.windows(n.len())
                .position(|w| w == *n)
                .map(|p| p as u64)
        })
        .collect();
    for chunk in 1..=text.len() + 1 {
        let s = scan_reader(&text[..], &needles, chunk).unwrap();
        assert_eq!(s.first, truth, "chunk {chunk}");
    }
}

#[test]
fn the_scan_stops_once_every_needle_is_found() {
    let mut text = b"needle".to_vec();
    text.extend(vec![b'.'; 10_000]);
    let s = scan_reader(&text[..], &[b"needle"], 64).unwrap();
    assert_eq!(s.first, [Some(0)]);
    assert!(s.bytes < text.len() as u64, "{} bytes read", s.bytes);
    let all = scan_reader(&text[..], &[b"absent"], 64).unwrap();
    assert_eq!(all.bytes, text.len() as u64);
}
