//! Consuming a stream source from NATS JetStream: a durable pull consumer on the source's
//! subject; each fetch of up to [`FETCH`] messages is decoded message by message (a bad
//! message is logged, counted and terminated — never redelivered, never blocking the
//! others), ingested as one batch, and acknowledged only after the engine has committed it.
//! A crash before the ack means redelivery; the engine skips what it already applied (by
//! the source's `event_id_field`, or else by the JetStream stream sequence).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind};
use futures::StreamExt;
use tessera_core::NatsDef;

use crate::engine::StreamEngine;
use crate::error::{Chain, Error, Result};
use crate::events::{decode_columns, json_object_columns, Events, SourceSchema};

/// Messages per fetch.
pub const FETCH: usize = 2048;

/// Totals of a consumer run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatsStats {
    /// Messages received.
    pub messages: u64,
    /// Messages refused as malformed (terminated).
    pub bad: u64,
    /// Events applied.
    pub applied: u64,
    /// Events skipped as duplicates.
    pub duplicates: u64,
    /// Events too late or too far in the future.
    pub dropped: u64,
}

/// A failed NATS call, as a `map_err` argument.
fn nats_err<'a, E: Into<crate::error::BoxError>>(action: &'a str) -> impl FnOnce(E) -> Error + 'a {
    move |e| Error::Nats {
        action: action.to_string(),
        hint: "",
        source: e.into(),
    }
}

/// The default server.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// The JetStream stream of a source: declared, or the source name upper-cased.
pub fn stream_name(source: &str, nats: &NatsDef) -> String {
    nats.stream.clone().unwrap_or_else(|| {
        source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    })
}

/// Decodes fetched messages into one batch of events with their stream sequences as ids;
/// a malformed message is counted, logged and terminated (never redelivered). Returns the
/// events, their ids and the good messages (to acknowledge once the batch is durable).
async fn decode_messages(
    source: &str,
    schema: &SourceSchema,
    batch: Vec<jetstream::Message>,
    stats: &mut NatsStats,
) -> (Events, Vec<Vec<u8>>, Vec<jetstream::Message>) {
    let mut events = Events::default();
    let mut ids = Vec::new();
    let mut good = Vec::new();
    for m in batch {
        let decoded = json_object_columns(&m.payload).and_then(|cols| decode_columns(schema, cols));
        match decoded {
            Ok(ev) => {
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                ids.push([b"n:".as_slice(), &seq.to_le_bytes()].concat());
                events.extend(ev);
                good.push(m);
            }
            Err(e) => {
                stats.bad += 1;
                tracing::warn!(source, error = %Chain(&e), "refused a malformed NATS message");
                let _ = m.ack_with(AckKind::Term).await;
            }
        }
    }
    (events, ids, good)
}

/// Connects, creates the stream and durable consumer if missing, and ingests until `stop`
/// resolves.
pub async fn consume(
    engine: &StreamEngine,
    source: &str,
    nats: &NatsDef,
    stop: impl Future<Output = ()>,
    on_batch: impl Fn(&NatsStats),
) -> Result<NatsStats> {
    let url = nats.url.clone().unwrap_or_else(|| DEFAULT_URL.to_string());
    let client = async_nats::connect(&url).await.map_err(|e| Error::Nats {
        action: format!("connecting to {url}"),
        hint: " (hint: is nats-server running with -js?)",
        source: e.into(),
    })?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(jetstream::stream::Config {
            name: stream_name(source, nats),
            subjects: vec![nats.subject.clone()],
            ..Default::default()
        })
        .await
        .map_err(nats_err("creating the stream"))?;
    let consumer = stream
        .get_or_create_consumer(
            &nats.durable,
            pull::Config {
                durable_name: Some(nats.durable.clone()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 100_000,
                ..Default::default()
            },
        )
        .await
        .map_err(nats_err("creating the durable consumer"))?;
    let schema = engine.schema(source).await?;
    let mut stats = NatsStats::default();
    tokio::pin!(stop);
    loop {
        let fetch = consumer
            .fetch()
            .max_messages(FETCH)
            .expires(Duration::from_millis(100))
            .messages();
        let mut messages = tokio::select! {
            _ = &mut stop => return Ok(stats),
            m = fetch => m.map_err(nats_err("fetching messages"))?,
        };
        let mut batch: Vec<jetstream::Message> = Vec::new();
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => batch.push(m),
                Err(e) => {
                    tracing::warn!(source, error = %Chain(&*e), "NATS fetch");
                    break;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        stats.messages += batch.len() as u64;
        let (events, ids, good) = decode_messages(source, &schema, batch, &mut stats).await;
        loop {
            match engine
                .ingest_with_ids(
                    source,
                    events.clone(),
                    Some(ids.clone()),
                    crate::Visibility::Durable,
                )
                .await
            {
                Ok(r) => {
                    stats.applied += r.applied;
                    stats.duplicates += r.duplicates;
                    stats.dropped += r.late + r.future;
                    break;
                }
                Err(e @ Error::BadEvents { .. }) => {
                    // Cannot happen for messages decoded one by one; never loop on it.
                    tracing::error!(source, error = %Chain(&e), "refused a NATS batch");
                    stats.bad += good.len() as u64;
                    break;
                }
                Err(e) => {
                    tracing::error!(source, error = %Chain(&e), "ingest failed; retrying (messages stay unacknowledged)");
                    tokio::select! {
                        _ = &mut stop => return Ok(stats),
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        for m in good {
            m.ack().await.map_err(nats_err("acknowledging messages"))?;
        }
        on_batch(&stats);
    }
}
