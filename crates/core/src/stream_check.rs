//! Validation of `type: stream` sources (see [`crate::StreamDef`]).

use crate::definitions::{SourceDef, SourceType};
use crate::duration::parse_duration;
use crate::feature_type::FeatureType;

/// Problems with a source's stream settings, as (message, hint).
pub(crate) fn check_stream_source(s: &SourceDef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |m: String, h: &str| out.push((m, h.to_string()));
    match (s.source_type, &s.stream) {
        (SourceType::Batch, Some(_)) => bad(
            "has `stream:` settings but `type: batch`".into(),
            "set `type: stream`, or remove `stream:`",
        ),
        (SourceType::Stream, None) => bad(
            "is `type: stream` but has no `stream:` settings".into(),
            "add `stream: { schema: { user_id: int64, ... } }` (the event columns and their types)",
        ),
        (SourceType::Batch, None) => {}
        (SourceType::Device, _) => {} // `stream:` on it is reported by `check_device_source`
        (SourceType::Stream, Some(st)) => {
            if st.schema.is_empty() {
                bad(
                    "has an empty `stream.schema`".into(),
                    "list the event columns and their types, e.g. `schema: { user_id: int64, action: string }`",
                );
            }
            if let Some(t) = st.schema.get(&s.timestamp_field) {
                if *t != FeatureType::Timestamp {
                    bad(
                        format!(
                            "declares the timestamp column `{}` as {t} in `stream.schema`",
                            s.timestamp_field
                        ),
                        "leave it out of the schema (it is always a timestamp) or declare it `timestamp`",
                    );
                }
            }
            for (col, t) in &st.schema {
                if matches!(t, FeatureType::Bytes | FeatureType::List(_)) {
                    bad(
                        format!("stream column `{col}` has type {t}"),
                        "stream events carry scalars: int64, int32, float64, float32, bool, string, timestamp",
                    );
                }
            }
            if let Some(id) = &st.event_id_field {
                match st.schema.get(id) {
                    None => bad(
                        format!("`event_id_field: {id}` is not in `stream.schema`"),
                        "add it to the schema (string or int64)",
                    ),
                    Some(FeatureType::String | FeatureType::Int64 | FeatureType::Int32) => {}
                    Some(t) => bad(
                        format!("event id column `{id}` has type {t}"),
                        "use a string or integer column as the event id",
                    ),
                }
            }
            if let Some(l) = &st.allowed_lateness {
                if let Err(e) = parse_duration(l) {
                    bad(
                        format!("`allowed_lateness`: {e}"),
                        "write e.g. `30s`, `5m`, `1h`; `0s` means events arrive in order",
                    );
                }
            }
            if let Some(n) = &st.nats {
                if n.subject.trim().is_empty() || n.subject.contains(' ') {
                    bad(
                        format!("`nats.subject` `{}` is not a NATS subject", n.subject),
                        "use dot-separated tokens without spaces, e.g. `events.plays`",
                    );
                }
                if n.durable.trim().is_empty()
                    || !n
                        .durable
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    bad(
                        format!("`nats.durable` `{}` is not a consumer name", n.durable),
                        "use letters, digits, `-` and `_`",
                    );
                }
            }
        }
    }
    out
}
