//! Errors keep their cause: the library error a failure came from is the `source()` of the
//! engine's error (for the CLI and the API to print as `caused by: …`), and the engine's
//! own message does not repeat it.

use std::error::Error as _;
use std::sync::Arc;

use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, OnlineStore};
use tessera_stream::{json_object_columns, Error, StreamConfig, StreamEngine};

use super::parity::{defs, write_repo};

/// The message and the source are not printed twice.
fn assert_not_repeated(e: &Error) {
    let source = e.source().expect("a source");
    let (outer, inner) = (e.to_string(), source.to_string());
    assert!(
        !outer.contains(&inner),
        "the message repeats its source: {outer:?} / {inner:?}"
    );
}

async fn open(dir: &std::path::Path) -> tessera_stream::Result<StreamEngine> {
    let repo = FeatureRepo::load(dir).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
    StreamEngine::open(dir, Arc::new(repo.catalog), store, StreamConfig::default()).await
}

#[tokio::test]
async fn a_corrupt_checkpoint_reports_the_redb_cause() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let path = d.path().join(".tessera/stream/checkpoint.redb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0xA5; 4096]).unwrap();
    let e = open(d.path()).await.unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e:?}");
    assert!(e.to_string().contains("checkpoint.redb"), "{e}");
    let source = e.source().expect("the redb error is kept");
    assert!(
        source.downcast_ref::<redb::DatabaseError>().is_some(),
        "the source is redb's error: {source:?}"
    );
    assert_not_repeated(&e);
    // The file is left as it was: nothing is lost by refusing to open it.
    assert_eq!(std::fs::read(&path).unwrap(), vec![0xA5; 4096]);
}

#[tokio::test]
async fn an_unwritable_log_reports_the_io_cause() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let engine = open(d.path()).await.unwrap();
    let log = d.path().join("data/plays");
    let _ = std::fs::remove_dir_all(&log);
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, b"not a directory").unwrap();
    let rows = super::parity::columns(&[super::parity::Ev {
        user: 1,
        item: 7,
        action: "play",
        dwell: Some(1.0),
        ts: (StreamConfig::default().clock)(),
        id: "x".into(),
    }]);
    let e = engine.ingest("plays", rows).await.unwrap_err();
    assert!(matches!(e, Error::Log { .. }), "{e:?}");
    let source = e.source().expect("the io error is kept");
    assert!(
        source.downcast_ref::<std::io::Error>().is_some(),
        "the source is the io error: {source:?}"
    );
    assert_not_repeated(&e);
}

#[test]
fn a_malformed_message_keeps_the_parser_error() {
    let e = json_object_columns(b"{\"user_id\": ").unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
    let source = e.source().expect("the parser error is kept");
    assert!(source.downcast_ref::<serde_json::Error>().is_some());
    assert_not_repeated(&e);
    let e = json_object_columns(b"[1, 2]").unwrap_err();
    assert!(e.to_string().contains("not a JSON object"), "{e}");
    assert!(e.source().is_none());
}
