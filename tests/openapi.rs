//! `GET /openapi.json`: the document names exactly the routes the router serves, with the
//! methods each answers, and follows the configuration (prefixes, disabled dialects).

mod common;

use std::collections::BTreeSet;

use castellan::config::Settings;
use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every surface on: SimpleJWT extras, the envelope, the provider, `/metrics` on the main
/// listener and the test clock (the harness turns it on). The limiter is off so that probing
/// every route is not throttled.
const EVERYTHING: &[(&str, &str)] = &[
    ("CASTELLAN_API__SIMPLEJWT__EXTRAS", "true"),
    ("CASTELLAN_LIMITS__REQUESTS", "0"),
];

fn everything() -> Settings {
    let mut settings = Settings::default();
    settings.api.simplejwt.extras = true;
    settings.testing.clock_control = true;
    settings
}

async fn document(server: &TestServer) -> Value {
    let reply = server.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    reply.body
}

fn paths(doc: &Value) -> BTreeSet<String> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect()
}

/// `/admin/users/{id}` → `/admin/users/probe`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("probe");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_nothing_else() {
    let settings = everything();
    let routed: BTreeSet<String> = castellan::http::routed_paths(&settings)
        .expect("the settings mount")
        .into_iter()
        .collect();
    let server = TestServer::start_with(EVERYTHING).await;
    let doc = document(&server).await;
    let documented = paths(&doc);

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    // Sanity: the configuration really mounted every surface.
    for path in [
        "/auth/token",
        "/auth/v1/renew",
        "/api/token/",
        "/api/getuser",
        "/api/auth/login",
        "/admin/clients",
        "/oauth/token",
        "/.well-known/openid-configuration",
        "/metrics",
        "/__test/clock",
        "/openapi.json",
    ] {
        assert!(routed.contains(path), "{path} is not mounted");
    }

    // Methods: the router answers 405 exactly for the methods the document leaves out.
    let mut wrong = Vec::new();
    for path in &routed {
        let item = &doc["paths"][path];
        for method in METHODS {
            let documented = item.get(method).is_some();
            let reply = server
                .call(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete(path),
                    None,
                    None,
                )
                .await;
            let routed = reply.status != StatusCode::METHOD_NOT_ALLOWED;
            if routed != documented {
                wrong.push(format!(
                    "{method} {path}: routed {routed}, documented {documented} ({})",
                    reply.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "methods disagree: {wrong:#?}");
}

#[tokio::test]
async fn every_operation_is_described() {
    let server = TestServer::start_with(EVERYTHING).await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // Every reference resolves.
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    assert_eq!(schemes["client_basic"]["scheme"], "basic");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: no summary"
            );
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{at}: tag");
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{at}: operationId repeats"
            );
            let responses = op["responses"].as_object().unwrap();
            for status in ["429", "503"] {
                assert!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"].is_string(),
                    "{at}: no {status}"
                );
            }
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{at}: no success answer"
            );
        }
    }

    // Each dialect's failures in its own shape.
    let error_of = |path: &str, status: &str| {
        doc["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(error_of("/auth/token", "401").ends_with("/NativeError"));
    assert!(error_of("/api/token/", "401").ends_with("/SimpleJwtError"));
    assert!(error_of("/api/auth/login", "401").ends_with("/EnvelopeError"));
    assert!(error_of("/oauth/token", "400").ends_with("/OAuthErrorBody"));

    // Logins take JSON and forms, with an example; the token endpoint names its client auth.
    let login = &doc["paths"]["/auth/token"]["post"];
    let content = login["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json"));
    assert!(content.contains_key("application/x-www-form-urlencoded"));
    let credentials = &schemas["Credentials"];
    assert!(
        credentials["example"]["username"].is_string(),
        "{credentials}"
    );
    let token_security = doc["paths"]["/oauth/token"]["post"]["security"].to_string();
    assert!(token_security.contains("client_basic"), "{token_security}");
    let me_security = doc["paths"]["/auth/me"]["get"]["security"].to_string();
    for scheme in ["bearer", "api_key", "cookie", "csrf"] {
        assert!(me_security.contains(scheme), "{me_security}");
    }
}

#[tokio::test]
async fn the_document_follows_the_configuration() {
    let server = TestServer::start_with(&[
        ("CASTELLAN_API__NATIVE__PREFIXES", "/identity"),
        ("CASTELLAN_API__SIMPLEJWT__PREFIX", "/jwt"),
        ("CASTELLAN_API__ENVELOPE__PREFIX", ""),
        ("CASTELLAN_METRICS__ENABLED", "false"),
    ])
    .await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let paths = paths(&doc);
    for present in [
        "/identity/token",
        "/identity/me",
        "/jwt/token",
        "/jwt/token/",
        "/oauth/authorize",
    ] {
        assert!(paths.contains(present), "{present} missing: {paths:?}");
    }
    for path in &paths {
        assert!(!path.starts_with("/auth/"), "{path}: the native API moved");
        assert!(
            !path.starts_with("/api/"),
            "{path}: envelope and /api are off"
        );
    }
    assert!(!paths.contains("/metrics"));
    // No extras without `api.simplejwt.extras`.
    assert!(!paths.contains("/jwt/register"));
    // The moved prefix still routes what the document says.
    let reply = server
        .post(
            "/identity/token",
            serde_json::json!({"username": "nobody", "password": "wrong-password-1"}),
        )
        .await;
    reply.assert_error(401, "INVALID_CREDENTIALS");
}
