//! Local-DP reports: `POST /v1/ldp/reports` accumulates batches of privatised reports
//! into the report's sketch; `GET /v1/ldp/{report}/estimates` estimates the frequency of
//! each candidate value. See `docs/LOCAL_DP.md` and `docs/HTTP_API.md`.
//!
//! A batch is the binary format of [`tessera_ldp::wire`] (`Content-Type:
//! application/x-tessera-ldp`, what devices send) or JSON. It is decoded whole before
//! anything is stored (a bad report rejects the batch), merged into the sketch and the
//! sketch file replaced durably before the answer. A consumer may send only the reports
//! its definition lists (`ldp_reports: [genre_plays]`); others are refused with 403 and
//! audited. Every batch is audited as one record
//! (action `ldp_report`) with its report count — never anything about the devices: a
//! batch carries no identifier, and the server keeps no per-report record.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use tessera_audit::AuditRecord;
use tessera_ldp::wire::{cms_report_from_hex, decode_batch, CONTENT_TYPE};
use tessera_ldp::{Estimator, HcmsReport, LdpParams, Mechanism, Report, Sketch};

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::json_body::{check_not_empty, decode_bounded, json_error, read_body};
use crate::ldp_sketches::SketchError;
use crate::metrics::Route;
use crate::purpose::purpose_of;
use crate::refusal_audit::Refusals;
use crate::state::AppState;

/// The audit action of an accepted batch of local-DP reports.
pub const ACTION_LDP_REPORT: &str = "ldp_report";
/// The audit action of a read of local-DP estimates.
pub const ACTION_LDP_ESTIMATE: &str = "ldp_estimate";
/// Reports one batch may hold at most (the body limit applies too).
pub const MAX_LDP_BATCH: u32 = 100_000;
/// Candidates one estimate request may name at most.
pub const MAX_LDP_CANDIDATES: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBatch {
    report: String,
    mechanism: String,
    epsilon: f64,
    k: u32,
    m: u32,
    reports: Vec<JsonReport>,
}

/// CMS: `{"row": 3, "bits": "<hex>"}`; HCMS: `{"row": 3, "index": 17, "bit": -1}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonReport {
    row: u32,
    #[serde(default)]
    bits: Option<String>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    bit: Option<i8>,
}

fn bad_batch(e: tessera_ldp::Error) -> ApiError {
    ApiError::unprocessable("bad_ldp_batch", e.to_string())
}

/// Decodes a JSON batch into the report's name and a sketch of its reports.
fn decode_json(bytes: &[u8]) -> Result<(String, Sketch), ApiError> {
    check_not_empty(bytes)?;
    let batch: JsonBatch = serde_json::from_slice(bytes).map_err(json_error)?;
    check_count(batch.reports.len())?;
    let params = LdpParams::new(
        Mechanism::parse(&batch.mechanism).map_err(bad_batch)?,
        batch.epsilon,
        batch.k,
        batch.m,
    )
    .map_err(bad_batch)?;
    let mut sketch = Sketch::new(params);
    for (i, r) in batch.reports.into_iter().enumerate() {
        let report = match (params.mechanism(), r.bits, r.index, r.bit) {
            (Mechanism::Cms, Some(hex), None, None) => {
                Report::Cms(cms_report_from_hex(&params, r.row, &hex).map_err(bad_batch)?)
            }
            (Mechanism::Hcms, None, Some(index), Some(bit @ (-1 | 1))) => {
                Report::Hcms(HcmsReport::new(&params, r.row, index, bit == 1).map_err(bad_batch)?)
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "bad_ldp_batch",
                    format!(
                        "report {i}: a {} report is {}",
                        params.mechanism(),
                        match params.mechanism() {
                            Mechanism::Cms => "{\"row\": J, \"bits\": \"<hex of m bits>\"}",
                            Mechanism::Hcms => "{\"row\": J, \"index\": L, \"bit\": 1 or -1}",
                        }
                    ),
                ))
            }
        };
        sketch.add(&report).map_err(bad_batch)?;
    }
    Ok((batch.report, sketch))
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::unprocessable(
            "empty_ldp_batch",
            "the batch holds no reports",
        ));
    }
    if n > MAX_LDP_BATCH as usize {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ldp_batch_too_large",
            format!("{n} reports in one batch; at most {MAX_LDP_BATCH} (hint: split the batch)"),
        ));
    }
    Ok(())
}

fn decode_binary(bytes: &[u8]) -> Result<(String, Sketch), ApiError> {
    let (header, sketch) = decode_batch(bytes).map_err(bad_batch)?;
    check_count(header.count as usize)?;
    Ok((header.report, sketch))
}

fn sketch_error(report: &str, e: SketchError) -> ApiError {
    match e {
        SketchError::Unknown => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_ldp_report",
            format!("no `ldp_reports:` definition named `{report}` is registered (hint: `tessera catalog` lists them)"),
        ),
        SketchError::Mismatch(m) => ApiError::unprocessable(
            "ldp_parameters_mismatch",
            format!("report `{report}`: {m} (hint: the device must use the registered definition)"),
        ),
        SketchError::Storage(e) => ApiError::internal(format!("report `{report}`: {e}")),
    }
}

/// Why a server without sketches cannot take or estimate reports.
const NO_SKETCHES: &str =
    "this server keeps no local-DP sketches (hint: run `tessera serve` on the repository)";

/// `POST /v1/ldp/reports`.
pub(crate) async fn ldp_reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(
        &state,
        &caller,
        &headers,
        ACTION_LDP_REPORT,
        Route::V1LdpReports,
    );
    let refuse = |e| refusals.refuse(e);
    // Permission first: a consumer sends only the reports its `ldp_reports:` lists (callers
    // that are not consumers, `--auth none`, are not limited).
    let allowed: Option<Vec<String>> = caller.consumer_name().map(|n| {
        state
            .access
            .catalog()
            .consumers()
            .get(n)
            .map(|c| c.ldp_reports.clone())
            .unwrap_or_default()
    });
    if let (Some(name), Some(list)) = (caller.consumer_name(), &allowed) {
        if list.is_empty() {
            return Err(refuse(ApiError::new(
                StatusCode::FORBIDDEN,
                "ldp_report_denied",
                format!("consumer `{name}` may not send local-DP reports (hint: list the reports it may send in its definition, e.g. `ldp_reports: [genre_plays]`)"),
            ))
            .await);
        }
    }
    let sketches = refusals
        .installed(state.ldp.clone(), "ldp_unsupported", NO_SKETCHES)
        .await?;
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(CONTENT_TYPE));
    let decoded = match read_body(&headers, body, &state.limits).await {
        Ok(bytes) => {
            decode_bounded(&state, bytes, move |b| {
                if binary {
                    decode_binary(b)
                } else {
                    decode_json(b)
                }
            })
            .await
        }
        Err(e) => Err(e),
    };
    let (report, delta) = refusals.check(decoded).await?;
    if let (Some(name), Some(list)) = (caller.consumer_name(), &allowed) {
        if !list.contains(&report) {
            return Err(refuse(ApiError::new(
                StatusCode::FORBIDDEN,
                "ldp_report_denied",
                format!(
                    "consumer `{name}` may not send reports of `{}` (hint: it may send: {}; add the report to its `ldp_reports:`)",
                    tessera_access::clip(&report),
                    list.join(", ")
                ),
            ))
            .await);
        }
    }
    let started = std::time::Instant::now();
    let n = delta.reports();
    let name = report.clone();
    let stored = tokio::task::spawn_blocking(move || sketches.ingest(&name, &delta))
        .await
        .map_err(|e| ApiError::internal(format!("storing the sketch failed: {e}")));
    let total = match stored {
        Ok(Ok(total)) => total,
        Ok(Err(e)) => return Err(refuse(sketch_error(&report, e)).await),
        Err(e) => return Err(refuse(e).await),
    };
    let mut record = AuditRecord::now(ACTION_LDP_REPORT, &caller.to_string(), "-");
    record.rows = n;
    record.latency_us = started.elapsed().as_micros() as u64;
    record.detail = Some(format!(
        "ldp report `{}`: {n} privatised reports accepted (sketch holds {total})",
        tessera_access::clip(&report)
    ));
    // The batch is stored: a failure to audit it is logged, the answer stays a success.
    if let Err(e) = state.access.audit().record(record).await {
        tracing::error!(route = Route::V1LdpReports.path(), error = %e, "an ldp batch could not be audited");
    }
    let body = serde_json::json!({ "report": report, "accepted": n, "total": total });
    Ok(json_response(body.to_string().into_bytes()))
}

/// `GET /v1/ldp/{report}/estimates[?candidates=a,b&purpose=P]`.
pub(crate) async fn ldp_estimates(
    State(state): State<AppState>,
    Path(report): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(
        &state,
        &caller,
        &headers,
        ACTION_LDP_ESTIMATE,
        Route::V1LdpEstimates,
    );
    let refuse = |e| refusals.refuse(e);
    let query = query_pairs(uri.query().unwrap_or(""));
    let catalog = state.access.catalog();
    let field = query
        .iter()
        .find(|(k, _)| k == "purpose")
        .map(|(_, v)| v.clone());
    let purpose = refusals.check(purpose_of(&headers, field)).await?;
    let consumer = caller
        .consumer_name()
        .and_then(|n| catalog.consumers().get(n));
    let purpose = purpose.or_else(|| consumer.and_then(|c| c.default_purpose.clone()));
    // Permission first: a declared purpose the consumer holds.
    let Some(purpose) = purpose else {
        return Err(refuse(ApiError::bad_request(
            "missing_purpose",
            "name the purpose of this read (hint: header X-Tessera-Purpose or `?purpose=`)",
        ))
        .await);
    };
    if catalog.purposes().get(&purpose).is_none() {
        return Err(refuse(ApiError::unprocessable(
            "unknown_purpose",
            format!("purpose `{purpose}` is not declared"),
        ))
        .await);
    }
    if let Some(c) = consumer {
        if !c.purposes.contains(&purpose) {
            return Err(refuse(ApiError::new(
                StatusCode::FORBIDDEN,
                "purpose_denied",
                format!("consumer `{}` does not hold purpose `{purpose}`", c.name),
            ))
            .await);
        }
    }
    let def = match catalog.ldp_report(&report) {
        Ok(d) => d,
        Err(_) => return Err(refuse(sketch_error(&report, SketchError::Unknown)).await),
    };
    let candidates: Vec<String> = match query.iter().find(|(k, _)| k == "candidates") {
        Some((_, list)) => list
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
        None => def.domain.values.clone(),
    };
    if candidates.is_empty() || candidates.len() > MAX_LDP_CANDIDATES {
        return Err(refuse(ApiError::unprocessable(
            "no_candidates",
            format!("report `{report}` needs 1 to {MAX_LDP_CANDIDATES} candidate values (hint: `?candidates=pop,rock`; its domain is open, or the list is too long)"),
        ))
        .await);
    }
    let sketches = refusals
        .installed(state.ldp.clone(), "ldp_unsupported", NO_SKETCHES)
        .await?;
    let started = std::time::Instant::now();
    let name = report.clone();
    let job = tokio::task::spawn_blocking(move || {
        let sketch = sketches.snapshot(&name)?;
        let estimator = Estimator::new(&sketch, name.as_bytes());
        let refs: Vec<&[u8]> = candidates.iter().map(|c| c.as_bytes()).collect();
        let estimates = estimator.estimates(&refs);
        Ok::<_, SketchError>((sketch, candidates, estimates))
    })
    .await
    .map_err(|e| ApiError::internal(format!("estimating failed: {e}")));
    let (sketch, candidates, estimates) = match job {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(refuse(sketch_error(&report, e)).await),
        Err(e) => return Err(refuse(e).await),
    };
    let mut record = AuditRecord::now(ACTION_LDP_ESTIMATE, &caller.to_string(), &purpose);
    record.rows = candidates.len() as u64;
    record.latency_us = started.elapsed().as_micros() as u64;
    record.detail = Some(format!(
        "ldp report `{}`: {} candidates over {} reports",
        tessera_access::clip(&report),
        candidates.len(),
        sketch.reports()
    ));
    if let Err(e) = state.access.audit().record(record).await {
        return Err(ApiError::internal(format!(
            "the read could not be audited: {e}"
        )));
    }
    let params = sketch.params();
    let rows: Vec<serde_json::Value> = candidates
        .iter()
        .zip(&estimates)
        .map(|(v, e)| serde_json::json!({ "value": v, "estimate": e.estimate, "sd": e.sd }))
        .collect();
    let body = serde_json::json!({
        "report": report, "mechanism": params.mechanism().as_str(), "epsilon": params.epsilon(),
        "k": params.k(), "m": params.m(), "reports": sketch.reports(), "estimates": rows,
    });
    Ok(json_response(body.to_string().into_bytes()))
}

/// `a=1&b=x%20y` → pairs, percent- and `+`-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_is_decoded() {
        let q = super::query_pairs("candidates=hip%20hop,rock&purpose=analytics&x");
        assert_eq!(q[0], ("candidates".into(), "hip hop,rock".into()));
        assert_eq!(q[1].1, "analytics");
        assert_eq!(super::percent_decode("100%"), "100%");
    }
}
