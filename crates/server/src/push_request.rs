//! Reading a push request in the order that keeps a refused caller cheap: the body (within
//! the size and time limits), then the caller's permission for the target (reading only the
//! target name, keeping nothing else), and only then the rows (one linear pass, bounded,
//! off the async workers when large).

use axum::body::Body;
use axum::http::HeaderMap;
use tessera_access::{Caller, WriteTarget};

use crate::api_error::ApiError;
use crate::json_body::{check_not_empty, decode_bounded, read_body};
use crate::push_decode::{decode, target_of, BodyShape, PushBody, PushBounds};
use crate::state::AppState;

/// Reads and decodes a push of `shape`; `target` turns the target name into a write target.
pub(crate) async fn read_push(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    shape: BodyShape,
    target: fn(String) -> WriteTarget,
) -> Result<PushBody, ApiError> {
    let bytes = read_body(headers, body, &state.limits).await?;
    check_not_empty(&bytes)?;
    let bounds = PushBounds::new(&state.limits, state.access.config().max_write_rows);
    let access = state.access.clone();
    let caller = caller.clone();
    decode_bounded(state, bytes, move |b| {
        if let Some(name) = target_of(b, shape.target)? {
            access.check_write(&caller, &target(name))?;
        }
        decode(b, shape, bounds)
    })
    .await
}
