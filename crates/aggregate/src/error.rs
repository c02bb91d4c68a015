//! The crate's one error type.

use crate::data_type::InputType;

/// Everything that can go wrong when defining, updating, merging, encoding or
/// serving an aggregation. One variant per thing a caller can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An aggregation function name that [`crate::AggFunction::parse`] does not know.
    #[error("unknown aggregation function `{name}`; valid names are: {valid}")]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// The names that are accepted.
        valid: &'static str,
    },
    /// A known function with a bad parameter (`k` of `last_k`, `q` of a percentile).
    #[error("invalid parameter for `{function}`: {reason}")]
    InvalidParameter {
        /// The function name as written.
        function: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The function cannot aggregate a column of this type.
    #[error("aggregation `{function}` cannot take a {input} column: {hint}")]
    UnsupportedInput {
        /// The function's short name.
        function: String,
        /// The column type offered.
        input: InputType,
        /// Which types are accepted.
        hint: &'static str,
    },
    /// The function needs an input column and none was given.
    #[error("aggregation `{function}` needs an input column (only `count` can go without one)")]
    MissingColumn {
        /// The function's short name.
        function: String,
    },
    /// Two states (or tiled aggregates, or view states) of different kinds were merged.
    #[error("cannot merge `{left}` with `{right}`: they are different aggregations")]
    StateMismatch {
        /// Description of the receiving side.
        left: String,
        /// Description of the other side.
        right: String,
    },
    /// Bytes that are not a valid encoding (damaged, truncated or from another format).
    #[error("cannot decode aggregation state at byte {offset}: {reason}")]
    Decode {
        /// Byte offset where decoding failed.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },
    /// The leading version byte names an encoding this build does not read.
    #[error("unsupported aggregation state encoding version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads and writes.
        supported: u8,
    },
    /// A duration that does not parse (see [`crate::parse_duration_micros`]).
    #[error("`{input}` is not a duration: {reason} (hint: write {forms})", forms = crate::DURATION_FORMS)]
    InvalidDuration {
        /// The text as written.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A window string that does not parse, or a non-positive duration.
    #[error("invalid window `{input}`: {reason}")]
    InvalidWindow {
        /// The window as written.
        input: String,
        /// What is wrong and an example of what is right.
        reason: String,
    },
    /// `value_at(at)` was asked for a time before the newest applied event, inside
    /// a tile that holds events, so the exact answer is no longer known. Serve at
    /// or after `max_ts` (or use [`crate::window_values`] for past times).
    #[error("value as of {at} is not servable: events up to {max_ts} were already applied and its tile is not complete")]
    NotServable {
        /// The requested time.
        at: i64,
        /// The newest event time applied.
        max_ts: i64,
    },
    /// `value_at(at)` needs tiles that [`crate::TiledAggregate::evict_before`] dropped.
    #[error("value as of {at} is not servable: its window starts at {window_start}, but tiles before {evicted_before} were evicted")]
    Evicted {
        /// The requested time.
        at: i64,
        /// Where the window of `at` starts.
        window_start: i64,
        /// Tiles starting before this time are gone.
        evicted_before: i64,
    },
    /// [`crate::window_values`] needs events sorted by timestamp.
    #[error("events must be sorted by timestamp: event {index} (ts {ts}) is older than the one before it")]
    UnsortedEvents {
        /// Index of the first out-of-order event.
        index: usize,
        /// Its timestamp.
        ts: i64,
    },
    /// A filter expression that does not parse.
    #[error("filter `{expr}`: at position {position}: expected {expected}, found {found}")]
    FilterSyntax {
        /// The expression as written.
        expr: String,
        /// 1-based character position of the problem.
        position: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found instead.
        found: String,
    },
    /// A filter that parses but can never be evaluated as written (type errors,
    /// comparisons with `null`).
    #[error("filter `{expr}`: at position {position}: {reason}")]
    FilterType {
        /// The expression as written.
        expr: String,
        /// 1-based character position of the problem.
        position: usize,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A filter that references columns the source does not have.
    #[error(
        "filter `{expr}` references unknown column(s) {unknown:?}; known columns are {known:?}"
    )]
    UnknownColumns {
        /// The expression as written.
        expr: String,
        /// Referenced columns that do not exist.
        unknown: Vec<String>,
        /// The columns that exist.
        known: Vec<String>,
    },
    /// A stored state that does not belong to the definition it is loaded for.
    #[error("stored state does not match its definition: {reason}")]
    DefinitionMismatch {
        /// What differs.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
