//! Every HTTP request body decoder, behind one public entry point: [`decode_request_body`]
//! runs the same pure functions the routes run on a body's bytes (JSON, shape, limits),
//! stopping before anything needs the catalog, a store or the caller. The fuzz targets
//! (`fuzz/`) and the corpus replay test call it; any input must give `Ok` or an
//! [`ApiError`], never a panic.

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::push_decode::{decode, target_of, BodyShape, PushBounds};

/// The request bodies the HTTP routes decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// `POST /v1/push` (events or columns).
    NativePush,
    /// `POST /push` (Feast).
    FeastPush,
    /// `POST /write-to-online-store` (Feast).
    FeastWrite,
    /// `POST /get-online-features` (Feast).
    FeastRead,
    /// `POST /v1/features`.
    NativeRead,
    /// `POST /v1/consent`.
    Consent,
    /// `POST /v1/erase`.
    Erase,
}

impl RequestBody {
    /// Every body, in a fixed order.
    pub const ALL: [RequestBody; 7] = [
        RequestBody::NativePush,
        RequestBody::FeastPush,
        RequestBody::FeastWrite,
        RequestBody::FeastRead,
        RequestBody::NativeRead,
        RequestBody::Consent,
        RequestBody::Erase,
    ];

    /// A short name (the fuzz corpus directory names use it).
    pub fn name(self) -> &'static str {
        match self {
            RequestBody::NativePush => "native_push",
            RequestBody::FeastPush => "feast_push",
            RequestBody::FeastWrite => "feast_write",
            RequestBody::FeastRead => "feast_read",
            RequestBody::NativeRead => "native_read",
            RequestBody::Consent => "consent",
            RequestBody::Erase => "erase",
        }
    }
}

/// What a decoded body holds, in counts (enough for a caller to check something decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodedBody {
    /// Rows (push), entities (read, consent, erase).
    pub rows: usize,
    /// Columns (push) or join keys (read, consent, erase).
    pub columns: usize,
}

/// Decodes `bytes` as the route of `kind` does within `limits` (`max_rows`: the access
/// layer's `max_write_rows`), up to the point where the catalog, a store or the caller is
/// needed. Returns the 4xx the route would answer for a bad body.
pub fn decode_request_body(
    kind: RequestBody,
    bytes: &[u8],
    limits: &Limits,
    max_rows: usize,
) -> Result<DecodedBody, ApiError> {
    let push = |shape: BodyShape| {
        let _target = target_of(bytes, shape.target)?;
        decode(bytes, shape, PushBounds::new(limits, max_rows))
    };
    let counted = |columns: &crate::push_decode::Columns| DecodedBody {
        rows: columns.first().map_or(0, |(_, v)| v.len()),
        columns: columns.len(),
    };
    match kind {
        RequestBody::NativePush => {
            let (_, columns) = crate::native_push::rows(push(crate::native_push::NATIVE_PUSH)?)?;
            Ok(counted(&columns))
        }
        RequestBody::FeastPush => {
            let body = push(crate::feast_write::FEAST_PUSH)?;
            crate::feast_write::check_push_mode(body.text("to"))?;
            Ok(counted(&crate::feast_write::df(body.data)?))
        }
        RequestBody::FeastWrite => {
            let body = push(crate::feast_write::FEAST_WRITE)?;
            Ok(counted(&crate::feast_write::df(body.data)?))
        }
        RequestBody::FeastRead => {
            let read = crate::feast_read::decode_read(bytes, limits)?;
            Ok(DecodedBody {
                rows: read.entities.len(),
                columns: read.entities.names().count(),
            })
        }
        RequestBody::NativeRead => {
            let read = crate::native_read::decode_read(bytes, limits)?;
            Ok(DecodedBody {
                rows: read.entities.len(),
                columns: read.entities.names().count(),
            })
        }
        RequestBody::Consent => {
            let d = crate::native_consent::decode_consent(bytes, limits, max_rows)?;
            Ok(d.counts())
        }
        RequestBody::Erase => {
            let keys = crate::erase_route::decode_erase(bytes)?;
            Ok(DecodedBody {
                rows: keys.len(),
                columns: keys.first().map_or(0, Vec::len),
            })
        }
    }
}
