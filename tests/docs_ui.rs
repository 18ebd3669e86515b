//! `GET /docs`: the Swagger UI page and its assets come from the binary, under a
//! Content-Security-Policy that allows nothing but this origin; unknown assets are 404s in
//! the native error shape; `docs.enabled = false` removes all of it.

mod common;

use common::{TestServer, python::manifest_dir};
use reqwest::StatusCode;

/// The `src`/`href` values of the page, in order.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// Directive name → its sources.
fn directives(policy: &str) -> Vec<(String, Vec<String>)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

async fn fetch(url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = reqwest::get(url).await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn docs_page_loads_only_its_own_assets_under_a_self_only_policy() {
    let app = TestServer::start().await;
    let (status, headers, body) = fetch(&app.url("/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains(r#"<div id="swagger-ui"></div>"#), "{html}");
    // No inline script: every script element is empty and names its file.
    assert_eq!(
        html.matches("<script").count(),
        html.matches(r#""></script>"#).count(),
        "{html}"
    );
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "{html}"
    );

    let policy = header(&headers, "content-security-policy");
    let directives = directives(policy);
    for (name, sources) in &directives {
        for source in sources {
            let allowed = source == "'self'"
                || source == "'none'"
                || (name == "img-src" && source == "data:");
            assert!(allowed, "`{name} {source}` in {policy}");
        }
    }
    let sources = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.join(" "))
            .unwrap_or_else(|| panic!("no {name} in {policy}"))
    };
    assert_eq!(sources("default-src"), "'none'");
    assert_eq!(sources("script-src"), "'self'");
    assert_eq!(sources("connect-src"), "'self'");
    assert_eq!(sources("frame-ancestors"), "'none'");

    // Every file the page names is served, with its content type and a cache lifetime; the
    // vendored files byte for byte as committed.
    let vendored = |name: &str| std::fs::read(manifest_dir().join(name)).unwrap();
    let expected = [
        (
            "swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            vendored("assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        (
            "swagger-ui.css",
            "text/css; charset=utf-8",
            vendored("assets/swagger-ui/swagger-ui.css"),
        ),
        (
            "favicon-32x32.png",
            "image/png",
            vendored("assets/swagger-ui/favicon-32x32.png"),
        ),
        (
            "castellan-docs.js",
            "text/javascript; charset=utf-8",
            vendored("assets/docs/castellan-docs.js"),
        ),
    ];
    let refs = references(&html);
    assert_eq!(refs.len(), expected.len(), "{refs:?}");
    for (name, content_type, bytes) in expected {
        let reference = refs
            .iter()
            .find(|r| r.starts_with(&format!("docs/{name}?v=")))
            .unwrap_or_else(|| panic!("the page does not name {name}: {refs:?}"));
        let (status, headers, body) = fetch(&app.url(&format!("/{reference}"))).await;
        assert_eq!(status, StatusCode::OK, "{reference}");
        assert_eq!(header(&headers, "content-type"), content_type, "{name}");
        assert_eq!(
            header(&headers, "cache-control"),
            "public, max-age=86400",
            "{name}"
        );
        assert!(body == bytes, "{name} differs from the committed file");
    }
    let init = String::from_utf8(vendored("assets/docs/castellan-docs.js")).unwrap();
    assert!(init.contains(r#"url: "openapi.json""#), "{init}");
}

#[tokio::test]
async fn unknown_docs_assets_are_native_404s() {
    let app = TestServer::start().await;
    for path in [
        "/docs/nothing.js",
        "/docs/swagger-ui-bundle.js.map",
        "/docs/%FF",
        "/docs/..%2FCargo.toml",
        "/docs/",
    ] {
        app.get(path, None).await.assert_error(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn docs_enabled_false_serves_no_docs() {
    let app = TestServer::start_with(&[("CASTELLAN_DOCS__ENABLED", "false")]).await;
    app.get("/docs", None).await.assert_error(404, "NOT_FOUND");
    app.get("/docs/swagger-ui.css", None)
        .await
        .assert_error(404, "NOT_FOUND");
    // The rest of the server is unaffected.
    assert_eq!(app.get("/health/live", None).await.status, 200);
}
