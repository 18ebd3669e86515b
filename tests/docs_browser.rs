//! The interactive API docs in a real headless browser (Debian's chromium driven by npm
//! playwright-core, both installed by scripts/browser-env.sh): Swagger UI renders under the
//! page's Content-Security-Policy without a single violation, and a newcomer can try an
//! operation from it against the running server. Without a browser these are skipped,
//! except under CI=true, where they fail.

mod common;

use common::{
    TestServer,
    browser::{chromium, run_script},
};
use serde_json::Value;

fn assert_clean(report: &Value) {
    assert_eq!(
        report["rendered"], true,
        "Swagger UI did not render: {report}"
    );
    assert!(
        !report["root_text"].as_str().unwrap_or_default().is_empty(),
        "Swagger UI rendered nothing: {report}"
    );
    assert_eq!(report["violations"], Value::Array(vec![]), "{report}");
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_renders_without_any_content_security_policy_violation() {
    let Some(chromium) = tokio::task::spawn_blocking(chromium).await.unwrap() else {
        return;
    };
    let app = TestServer::start().await;
    let report = run_script(&chromium, "docs.mjs", &[&app.base], || app.logs()).await;
    assert_clean(&report);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_can_be_tried_from_the_docs_against_the_server() {
    let Some(chromium) = tokio::task::spawn_blocking(chromium).await.unwrap() else {
        return;
    };
    let app = TestServer::start().await;
    let document = app.get("/openapi.json", None).await;
    assert_ne!(
        document.status, 404,
        "the OpenAPI document is missing: GET /openapi.json answered 404, so /docs has nothing to show"
    );
    assert_eq!(document.status, 200, "{}", document.text);

    let report = run_script(
        &chromium,
        "docs.mjs",
        &[&app.base, "GET", "/health/live"],
        || app.logs(),
    )
    .await;
    assert_clean(&report);
    let operations = report["operations"].as_array().expect("operations");
    assert!(
        operations.iter().any(|o| o == "GET /health/live"),
        "GET /health/live is not listed: {report}"
    );
    assert_eq!(report["tried"], "200", "{report}");
}
