//! The gRPC API (`proto/tessera/serving/v1/serving.proto`, compiled with protox — no
//! `protoc`): `GetFeatures` and `Push`, with the same semantics as HTTP `POST /v1/features`
//! and `POST /push`, through the same access layer, authentication, metrics and errors.

use std::time::Instant;

use axum::http::StatusCode;
use tessera_access::{
    Caller, EntityRows, FeatureSelection, ReadRequest, ReadResult, ValueStatus, WriteRequest,
    WriteTarget, ACTION_READ, ACTION_WRITE,
};
use tessera_online::{KeyValue, Value};
use tonic::{Request, Response, Status};

use crate::api_error::ApiError;
use crate::error::Result;
use crate::json_body::check_key_count;
use crate::metrics::Route;
use crate::refusal_audit::audited;
use crate::state::AppState;

/// The generated protobuf types and service traits.
pub mod proto {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    tonic::include_proto!("tessera.serving.v1");
}

use proto::feature_service_server::{FeatureService, FeatureServiceServer};

/// The gRPC service over an [`AppState`].
#[derive(Debug, Clone)]
pub struct GrpcService {
    state: AppState,
}

impl GrpcService {
    /// A service sharing the HTTP server's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The tonic server for this service, with the body limit applied to messages.
    pub fn into_server(self) -> FeatureServiceServer<Self> {
        let max = self.state.limits.max_body_bytes;
        FeatureServiceServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(usize::MAX)
    }

    fn done<T>(&self, route: Route, started: Instant, r: &Result<T, ApiError>) {
        let status = match r {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        };
        self.state
            .metrics
            .request_done(route, status, started.elapsed());
        if let Err(e) = r {
            let detail = e.internal.as_deref().unwrap_or(&e.message);
            if e.status.is_server_error() {
                tracing::error!(route = route.path(), error = %detail, "request failed");
            }
        }
    }

    async fn get_features_inner(
        &self,
        req: Request<proto::GetFeaturesRequest>,
    ) -> Result<proto::GetFeaturesResponse, ApiError> {
        let headers = req.metadata().clone().into_headers();
        let caller = self.state.auth.caller(&headers)?;
        let request = match read_request(&self.state, &headers, req.into_inner(), &caller) {
            Ok(r) => r,
            Err(e) => {
                let route = Route::GrpcGetFeatures;
                return Err(audited(&self.state, &caller, ACTION_READ, route, &headers, e).await);
            }
        };
        let consumer = caller.to_string();
        let result = self.state.access.read(request).await?;
        Ok(response(result, consumer))
    }

    async fn push_inner(
        &self,
        req: Request<proto::PushRequest>,
    ) -> Result<proto::PushResponse, ApiError> {
        let headers = req.metadata().clone().into_headers();
        let caller = self.state.auth.caller(&headers)?;
        let request = match write_request(&self.state, req.into_inner(), &caller) {
            Ok(r) => r,
            Err(e) => {
                let route = Route::GrpcPush;
                return Err(audited(&self.state, &caller, ACTION_WRITE, route, &headers, e).await);
            }
        };
        let outcome = self.state.access.write(request).await?;
        Ok(proto::PushResponse {
            written: outcome.written(),
            skipped: outcome.skipped(),
        })
    }
}

/// The read a `GetFeatures` call asks for.
fn read_request(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: proto::GetFeaturesRequest,
    caller: &Caller,
) -> Result<ReadRequest, ApiError> {
    let purpose = crate::purpose::purpose_of(headers, non_empty(body.purpose))?;
    let features = FeatureSelection::from_parts(
        (!body.features.is_empty()).then_some(body.features),
        non_empty(body.feature_service),
    )?;
    check_key_count(body.entities.len(), &state.limits)?;
    let mut columns = Vec::with_capacity(body.entities.len());
    for c in body.entities {
        let mut values = Vec::with_capacity(c.values.len());
        for (i, v) in c.values.into_iter().enumerate() {
            values.push(key_from_proto(v).ok_or_else(|| {
                ApiError::unprocessable(
                    "missing_key_value",
                    format!(
                        "join key `{}` entity {i} has no value",
                        tessera_access::clip(&c.name)
                    ),
                )
            })?);
        }
        columns.push((c.name, values));
    }
    Ok(ReadRequest {
        features,
        entities: EntityRows::new(columns)?,
        context: body
            .context
            .into_iter()
            .map(|(k, v)| (k, value_from_proto(v)))
            .collect(),
        purpose,
        caller: caller.clone(),
    })
}

/// The write a `Push` call asks for, after the caller's permission for its target.
fn write_request(
    state: &AppState,
    body: proto::PushRequest,
    caller: &Caller,
) -> Result<WriteRequest, ApiError> {
    let target = match (
        non_empty(body.push_source_name),
        non_empty(body.feature_view_name),
    ) {
        (Some(s), None) => WriteTarget::PushSource(s),
        (None, Some(v)) => WriteTarget::View(v),
        _ => {
            return Err(ApiError::unprocessable(
                "bad_push_target",
                "set exactly one of push_source_name and feature_view_name",
            ))
        }
    };
    state.access.check_write(caller, &target)?;
    check_key_count(body.columns.len(), &state.limits)?;
    let columns = body
        .columns
        .into_iter()
        .map(|c| (c.name, c.values.into_iter().map(value_from_proto).collect()))
        .collect();
    Ok(WriteRequest {
        target,
        columns,
        caller: caller.clone(),
    })
}

#[tonic::async_trait]
impl FeatureService for GrpcService {
    async fn get_features(
        &self,
        request: Request<proto::GetFeaturesRequest>,
    ) -> std::result::Result<Response<proto::GetFeaturesResponse>, Status> {
        let started = Instant::now();
        let _in_flight = self.state.metrics.in_flight();
        let _busy = crate::grpc_serve::busy(&request);
        let r = self.get_features_inner(request).await;
        self.done(Route::GrpcGetFeatures, started, &r);
        r.map(Response::new).map_err(to_status)
    }

    async fn push(
        &self,
        request: Request<proto::PushRequest>,
    ) -> std::result::Result<Response<proto::PushResponse>, Status> {
        let started = Instant::now();
        let _in_flight = self.state.metrics.in_flight();
        let _busy = crate::grpc_serve::busy(&request);
        let r = self.push_inner(request).await;
        self.done(Route::GrpcPush, started, &r);
        r.map(Response::new).map_err(to_status)
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

fn to_status(e: ApiError) -> Status {
    let code = match e.status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::REQUEST_TIMEOUT => tonic::Code::DeadlineExceeded,
        s if s.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    };
    // The message names the error code and, for refusals, every refused feature and why.
    Status::new(code, format!("{}: {}", e.code, e.message))
}

fn response(result: ReadResult, consumer: String) -> proto::GetFeaturesResponse {
    let ReadResult {
        plan,
        entities,
        columns,
    } = result;
    let features = plan
        .features()
        .iter()
        .zip(plan.types())
        .zip(columns)
        .map(|((f, t), col)| proto::FeatureColumn {
            feature: f.to_string(),
            r#type: t.to_string(),
            values: col.values.into_iter().map(value_to_proto).collect(),
            statuses: col
                .statuses
                .iter()
                .map(|s| status_to_proto(*s) as i32)
                .collect(),
            event_timestamps_us: col.event_ts.iter().map(|t| t.unwrap_or(0)).collect(),
        })
        .collect();
    proto::GetFeaturesResponse {
        consumer,
        purpose: plan.purpose().to_string(),
        entities: entities
            .columns()
            .map(|(name, values)| proto::KeyColumn {
                name: name.to_string(),
                values: values.iter().map(key_to_proto).collect(),
            })
            .collect(),
        features,
    }
}

fn status_to_proto(s: ValueStatus) -> proto::ValueStatus {
    match s {
        ValueStatus::Present => proto::ValueStatus::Present,
        ValueStatus::Missing => proto::ValueStatus::Missing,
        ValueStatus::Expired => proto::ValueStatus::Expired,
        ValueStatus::Null => proto::ValueStatus::NullValue,
        ValueStatus::Stale => proto::ValueStatus::Expired,
        ValueStatus::Refused
        | ValueStatus::Unavailable
        | ValueStatus::NoConsent
        | ValueStatus::Suppressed
        | ValueStatus::Erased => proto::ValueStatus::Missing,
    }
}

fn key_from_proto(v: proto::KeyValue) -> Option<KeyValue> {
    Some(match v.kind? {
        proto::key_value::Kind::Int64Value(n) => KeyValue::Int64(n),
        proto::key_value::Kind::StringValue(s) => KeyValue::String(s),
    })
}

fn key_to_proto(v: &KeyValue) -> proto::KeyValue {
    proto::KeyValue {
        kind: Some(match v {
            KeyValue::Int64(n) => proto::key_value::Kind::Int64Value(*n),
            KeyValue::String(s) => proto::key_value::Kind::StringValue(s.clone()),
        }),
    }
}

/// A protobuf value as a Tessera value (unset = null).
pub fn value_from_proto(v: proto::Value) -> Value {
    use proto::value::Kind as K;
    match v.kind {
        None => Value::Null,
        Some(K::BoolValue(b)) => Value::Bool(b),
        Some(K::Int64Value(n)) => Value::Int64(n),
        Some(K::DoubleValue(f)) => Value::Float64(f),
        Some(K::StringValue(s)) => Value::String(s),
        Some(K::BytesValue(b)) => Value::Bytes(b),
        Some(K::TimestampUs(t)) => Value::Timestamp(t),
        Some(K::ListValue(l)) => Value::List(l.values.into_iter().map(value_from_proto).collect()),
    }
}

/// A Tessera value as a protobuf value.
pub fn value_to_proto(v: Value) -> proto::Value {
    use proto::value::Kind as K;
    proto::Value {
        kind: match v {
            Value::Null => None,
            Value::Bool(b) => Some(K::BoolValue(b)),
            Value::Int64(n) => Some(K::Int64Value(n)),
            Value::Float64(f) => Some(K::DoubleValue(f)),
            Value::String(s) => Some(K::StringValue(s)),
            Value::Bytes(b) => Some(K::BytesValue(b)),
            Value::Timestamp(t) => Some(K::TimestampUs(t)),
            Value::List(items) => Some(K::ListValue(proto::ValueList {
                values: items.into_iter().map(value_to_proto).collect(),
            })),
        },
    }
}
