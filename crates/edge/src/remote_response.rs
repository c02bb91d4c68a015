//! Decoding a Tessera server's answer to `POST /v1/features` into columns: values typed as
//! the catalog declares them (timestamps from RFC 3339, bytes from base64), statuses and
//! event times. A 403 names the refused features.

use tessera_access::wire::decode_read_response;
use tessera_core::{Catalog, FeatureRef};
use tessera_online::coerce;

use crate::error::{Error, Result};
use crate::remote_request::RemoteFeature;
use tessera_access::FeatureColumn as Column;

/// The columns of a 200 answer, in the order of `features`, each with `n` values.
pub(crate) fn decode_features(
    catalog: &Catalog,
    body: &[u8],
    features: &[RemoteFeature],
    n: usize,
) -> Result<Vec<Column>> {
    let answer =
        decode_read_response(body).map_err(|e| bad(format!("the answer does not decode: {e}")))?;
    if answer.features.len() != features.len() {
        return Err(bad(format!(
            "the answer has {} features, {} were asked for",
            answer.features.len(),
            features.len()
        )));
    }
    let mut out = Vec::with_capacity(features.len());
    for (f, item) in features.iter().zip(answer.features) {
        let name = item.feature;
        if name != f.feature_ref().to_string() {
            return Err(bad(format!(
                "the answer has `{name}` where `{}` was asked for",
                f.feature_ref()
            )));
        }
        let declared = &catalog
            .feature(f.feature_ref())
            .map_err(Error::Definitions)?
            .feature
            .dtype;
        // A minimised feature arrives in its transform's result type, which the answer
        // names; only a type some minimisation of the feature produces is taken.
        let answered = tessera_core::FeatureType::parse(&item.dtype)
            .ok()
            .filter(|t| t != declared && minimised_to(catalog, f.feature_ref(), t));
        let dtype = answered.as_ref().unwrap_or(declared);
        for (field, len) in [
            ("values", item.values.len()),
            ("statuses", item.statuses.len()),
            ("event_timestamps", item.event_timestamps.len()),
        ] {
            if len != n {
                return Err(bad(format!("`{name}` has no `{field}` list of {n}")));
            }
        }
        let mut col = Column::with_capacity(n);
        for ((v, status), ts) in item
            .values
            .into_iter()
            .zip(item.statuses)
            .zip(item.event_timestamps)
        {
            let value = coerce(v, dtype).map_err(|e| bad(format!("`{name}`: {e}")))?;
            col.push(value, status, ts);
        }
        out.push(col);
    }
    Ok(out)
}

/// What the device makes of the cloud's answer `body` with HTTP `status` to a read of
/// `features` for `n` entities: a 200's columns; for a 403 the refused features (as
/// [`Error::Remote`], naming them), for any other status the server's message. Public for
/// the fuzz target and the corpus replay test: any bytes give `Ok` or an error, never a panic.
pub fn decode_cloud_answer(
    catalog: &Catalog,
    status: u16,
    body: &[u8],
    features: &[RemoteFeature],
    n: usize,
) -> Result<Vec<Column>> {
    match status {
        200 => decode_features(catalog, body, features, n),
        403 => Err(bad(match refused_features(body) {
            Some(refused) => format!(
                "refused: {}",
                refused
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => error_message(status, body),
        })),
        s => Err(bad(error_message(s, body))),
    }
}

/// Whether some purpose's minimisation of `feature` gives values of type `t`.
fn minimised_to(catalog: &Catalog, feature: &FeatureRef, t: &tessera_core::FeatureType) -> bool {
    catalog.purposes().keys().any(
        |p| matches!(catalog.planned_form(p, None, feature), Ok(Some(form)) if &form.output == t),
    )
}

/// The features a 403 answer names as refused; `None` when the whole request was refused
/// (the consumer does not hold the purpose, or the answer names no feature).
pub(crate) fn refused_features(body: &[u8]) -> Option<Vec<FeatureRef>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = json.get("refusals")?.as_array()?;
    let mut out = Vec::new();
    for r in list {
        match r.get("feature").and_then(|f| f.as_str()) {
            Some(f) => out.push(FeatureRef::parse(f).ok()?),
            None => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The server's error message, for diagnostics.
pub(crate) fn error_message(status: u16, body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let msg = json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    format!("HTTP {status}: {msg}")
}

fn bad(message: String) -> Error {
    Error::Remote { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_access::ValueStatus;
    use tessera_online::Value;

    const YAML: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.csv, timestamp_field: ts }]
feature_views:
  - name: v
    entities: [user]
    source: s
    features:
      - { name: t, type: timestamp, classification: internal }
      - { name: n, type: float64, classification: internal }
purposes: [{ name: p, allows: [internal] }]
"#;

    #[test]
    fn answers_decode_typed_and_bad_answers_are_errors() {
        let c = crate::catalog_from_yaml(YAML).unwrap();
        let feats: Vec<RemoteFeature> = ["v:t", "v:n"]
            .iter()
            .map(|f| RemoteFeature::new(&c, &FeatureRef::parse(f).unwrap()).unwrap())
            .collect();
        let body = br#"{"features": [
            {"feature": "v:t", "values": ["2026-01-02T00:00:00Z", null], "statuses": ["present", "missing"], "event_timestamps": ["2026-01-01T00:00:00Z", null]},
            {"feature": "v:n", "values": [2, null], "statuses": ["present", "expired"], "event_timestamps": [null, "2026-01-01T00:00:00Z"]}]}"#;
        let cols = decode_features(&c, body, &feats, 2).unwrap();
        assert_eq!(cols[0].values[0], Value::Timestamp(1_767_312_000_000_000));
        assert_eq!(
            cols[0].statuses,
            [ValueStatus::Present, ValueStatus::Missing]
        );
        assert_eq!(
            cols[1].values[0],
            Value::Float64(2.0),
            "integers widen to the declared float"
        );
        assert_eq!(cols[1].statuses[1], ValueStatus::Expired);
        for bad in [
            &br#"{"features": []}"#[..],
            br#"not json"#,
            br#"{"features": [{"feature": "v:n"}, {"feature": "v:t"}]}"#,
        ] {
            assert!(decode_features(&c, bad, &feats, 2).is_err());
        }
        let unknown = String::from_utf8_lossy(body).replace("\"expired\"", "\"fresh\"");
        let err = decode_features(&c, unknown.as_bytes(), &feats, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown status"), "{err}");
        assert_eq!(
            refused_features(
                br#"{"error": "denied", "refusals": [{"feature": "v:n", "reason": "x"}]}"#
            ),
            Some(vec![FeatureRef::new("v", "n")])
        );
        assert_eq!(
            refused_features(br#"{"refusals": [{"feature": null, "reason": "purpose"}]}"#),
            None
        );
    }
}
