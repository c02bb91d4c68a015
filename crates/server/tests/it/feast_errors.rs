//! Issue 22, item 6: on the Feast routes, error bodies are shaped as Feast's feature server
//! shapes them — a JSON string holding `{"module", "class", "message"}`, which Feast's SDK
//! (`FeastError.from_error_detail(response.json())`) turns into a Feast exception carrying
//! our message — with Tessera's error code beside them.

use crate::fixtures::{request, TestServer, DASHBOARD, RANKER};

/// The raw body must be a JSON string whose content is the error object.
fn feast_detail(text: &str) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_str(text).unwrap();
    let inner = outer
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON string: {text}"));
    serde_json::from_str(inner).unwrap()
}

#[tokio::test]
async fn feast_routes_answer_errors_as_feasts_server_does() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features": ["user_stats:nope"], "entities": {"user_id": [1]}}"#,
        )
        .await;
    r.expect(422);
    let d = feast_detail(&r.text);
    assert_eq!(d["module"], "feast.errors");
    assert_eq!(d["class"], "FeastObjectNotFoundException");
    assert!(
        d["message"].as_str().unwrap().contains("user_stats:nope"),
        "{d}"
    );
    assert_eq!(d["error"], "unknown_feature");

    let r = s
        .post(
            "/push",
            Some(DASHBOARD),
            r#"{"push_source_name": "user_src", "df": {}}"#,
        )
        .await;
    r.expect(403);
    let d = feast_detail(&r.text);
    assert_eq!(d["class"], "FeastPermissionError");
    assert_eq!(d["error"], "write_denied");
    assert!(d["message"].as_str().unwrap().contains("(hint: "), "{d}");

    let r = s
        .send(request("POST", "/write-to-online-store", None, "{}", &[]))
        .await;
    r.expect(401);
    assert_eq!(feast_detail(&r.text)["class"], "FeastPermissionError");
    let r = s
        .post(
            "/write-to-online-store",
            Some(RANKER),
            r#"{"feature_view_name": "nope", "df": {}}"#,
        )
        .await;
    assert_eq!(
        feast_detail(&r.text)["class"],
        "FeatureViewNotFoundException"
    );

    // The native routes keep the documented object.
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_stats:nope"], "entities": {"user_id": [1]}}"#,
        )
        .await;
    let raw: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(raw["error"], "unknown_feature");
}
