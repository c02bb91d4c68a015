//! The [`OnlineStore`] trait and the types its methods take and return.

use crate::entity_key::EntityKey;
use crate::error::{Error, Result};
use crate::feature_row::{encode_row, FeatureRow, SelectedRow, Stamp};
use tessera_value::Value;

/// Where serving reads the latest feature values, keyed by feature view and entity.
///
/// Every backend passes `testkit::conformance` (feature `testkit`); the rules it checks are:
/// - **newer wins**: a stored row is replaced only by a row with a greater
///   `(event_ts, created_ts)` [`Stamp`]. An older row — or one exactly as old — is skipped
///   and counted in [`WriteSummary::skipped`], so writing the same data twice changes nothing.
///   This holds for concurrent writers too, across processes.
/// - **a read returns one entry per requested key, in request order**: `None` when the store
///   holds no row for that key.
/// - a row replaces the whole previous row of that entity: values of features the new row
///   does not carry are gone.
///
/// The trait is object safe; callers hold an `Arc<dyn OnlineStore>` (see
/// [`crate::open_store`]).
#[async_trait::async_trait]
pub trait OnlineStore: std::fmt::Debug + Send + Sync {
    /// A stable name: `embedded`, `redis`.
    fn name(&self) -> &'static str;

    /// What this store can do.
    fn capabilities(&self) -> Capabilities;

    /// The latest row of each key in `view`, in request order (`None` when missing).
    async fn read(&self, view: &str, keys: &[EntityKey]) -> Result<Vec<Option<FeatureRow>>>;

    /// The latest row of each key in `view`, decoding only `features` (values aligned with
    /// them, names distinct); keys are given encoded ([`EntityKey::encode`]), one entry per
    /// key in request order (`None` when missing). The read path of serving: no key is
    /// built and no row decoded whole. The default goes through [`OnlineStore::read`];
    /// backends override it.
    async fn read_selected(
        &self,
        view: &str,
        keys: &[Vec<u8>],
        features: &[&str],
    ) -> Result<Vec<Option<SelectedRow>>> {
        let keys = keys
            .iter()
            .map(|k| EntityKey::decode(k))
            .collect::<Result<Vec<_>>>()?;
        Ok(self
            .read(view, &keys)
            .await?
            .into_iter()
            .map(|r| r.map(|r| SelectedRow::from_row(r, features)))
            .collect())
    }

    /// Writes rows, each only if it is newer than the stored row of its key.
    async fn write(&self, batch: WriteBatch) -> Result<WriteSummary>;

    /// Erases an entity from every view: each row whose key contains every part of `key`
    /// (so erasing `user_id=7` also erases `user_id=7,item_id=…` rows). Returns how many rows
    /// were removed.
    async fn delete_entity(&self, key: &EntityKey) -> Result<u64>;

    /// The rows of `view` whose event time is after `beyond_us` — among `keys`, or in the
    /// whole view when `keys` is empty — each with its stamp, in key order. With `drop`, they
    /// are also deleted, atomically with finding them (a row replaced meanwhile by another
    /// stays). This repairs rows a far-future write pinned (see [`crate::FutureBound`]):
    /// once dropped, the next real write of the entity lands.
    async fn future_rows(
        &self,
        view: &str,
        keys: &[EntityKey],
        beyond_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        let _ = (view, keys, beyond_us, drop);
        Err(Error::Unsupported {
            store: self.name(),
            operation: "list or drop rows stamped in the future",
            hint: "repair the rows on the embedded or Redis store the server writes to",
        })
    }

    /// The rows of `view` whose event time is before `before_us` (older than a retention
    /// cutoff), each with its stamp. With `drop`, they are also deleted, atomically with
    /// finding them (a row replaced meanwhile by a newer one stays).
    async fn rows_before(
        &self,
        view: &str,
        before_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        let _ = (view, before_us, drop);
        Err(Error::Unsupported {
            store: self.name(),
            operation: "delete rows older than a retention",
            hint: "apply retention on the embedded or Redis store",
        })
    }

    /// The view's materialisation high-water mark (µs since the epoch), if one was set.
    async fn high_water_mark(&self, view: &str) -> Result<Option<i64>>;

    /// Sets the view's high-water mark. Callers set it only after every row up to it is
    /// written, so a run that dies halfway is redone, not skipped.
    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> Result<()>;
}

/// What a store can do, for planners and for the CLI to explain itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Other processes can read and write the same store while this one has it open.
    pub shared_between_processes: bool,
    /// Reads cross the network (expect a round trip per read).
    pub remote: bool,
    /// The store drops expired rows itself. When `false` (every store so far), readers
    /// classify rows with [`crate::freshness`].
    pub expires_rows: bool,
}

/// One row to write: the entity, when the row was true, and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRow {
    /// The entity.
    pub key: EntityKey,
    /// When the row was true; decides "newer wins".
    pub stamp: Stamp,
    /// Values aligned with [`WriteBatch::features`].
    pub values: Vec<Value>,
}

/// Rows of one feature view, written together (one transaction, one round trip).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBatch {
    /// The feature view.
    pub view: String,
    /// The feature names every row's `values` follow.
    pub features: Vec<String>,
    /// The rows. Several rows may have the same key: the newest wins.
    pub rows: Vec<WriteRow>,
}

impl WriteBatch {
    /// An empty batch for `view` with these features.
    pub fn new(view: impl Into<String>, features: Vec<String>) -> Self {
        Self {
            view: view.into(),
            features,
            rows: Vec::new(),
        }
    }

    /// Adds one row.
    pub fn push(&mut self, key: EntityKey, stamp: Stamp, values: Vec<Value>) {
        self.rows.push(WriteRow { key, stamp, values });
    }

    /// Checks that every row carries one value per feature.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some((i, r)) = self
            .rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.values.len() != self.features.len())
        {
            return Err(Error::BadBatch {
                view: self.view.clone(),
                reason: format!(
                    "row {i} ({}) has {} values for {} features",
                    r.key,
                    r.values.len(),
                    self.features.len()
                ),
            });
        }
        Ok(())
    }

    /// The encoded (key, row) pairs of every row, in order.
    pub(crate) fn encode(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.check()?;
        Ok(self
            .rows
            .iter()
            .map(|r| {
                let mut row = Vec::with_capacity(32 + 12 * r.values.len());
                encode_row(r.stamp, &self.features, &r.values, &mut row);
                (r.key.encode(), row)
            })
            .collect())
    }

    /// The sorted join-key names of the batch's first row (a view's rows share them).
    pub(crate) fn key_names(&self) -> Option<Vec<String>> {
        self.rows
            .first()
            .map(|r| r.key.names().map(str::to_string).collect())
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows stored (they were newer than what the store held, or the key was new).
    pub written: u64,
    /// Rows skipped because the store already held a row at least as new.
    pub skipped: u64,
}

impl std::ops::AddAssign for WriteSummary {
    fn add_assign(&mut self, o: Self) {
        self.written += o.written;
        self.skipped += o.skipped;
    }
}
