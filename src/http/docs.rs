//! `GET /docs`: Swagger UI over the server's own `/openapi.json`, where every operation can
//! be tried from the browser. Its files (npm `swagger-ui-dist`, vendored in
//! `assets/swagger-ui`) are compiled into the binary, so the page works offline and loads
//! nothing from anywhere but this server.

use axum::{
    extract::{Path, rejection::PathRejection},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{Mount, error::ApiError, html::secure_page};

/// The path of an asset as the page names it: relative to `/docs` (so the page also works
/// behind a proxy that adds a path prefix), and tagged with the release so that a cached copy
/// of an older release's file is never used.
macro_rules! asset_url {
    ($name:literal) => {
        concat!(
            "docs/",
            $name,
            "?v=",
            env!("CARGO_PKG_VERSION"),
            "-",
            "5.35.0"
        )
    };
}

const PAGE: &str = concat!(
    r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Castellan API</title>"#,
    r#"<link rel="stylesheet" href=""#,
    asset_url!("swagger-ui.css"),
    r#""><link rel="icon" type="image/png" href=""#,
    asset_url!("favicon-32x32.png"),
    r#""></head><body><div id="swagger-ui"></div><script src=""#,
    asset_url!("swagger-ui-bundle.js"),
    r#""></script><script src=""#,
    asset_url!("castellan-docs.js"),
    r#""></script></body></html>"#,
);

/// Only this origin: scripts (no inline ones, no eval), the stylesheet, the document and
/// "Try it out" requests. `data:` images are the icons swagger-ui.css embeds. Swagger UI
/// sets element styles only through the DOM (which a policy does not govern), so styles
/// need no 'unsafe-inline'.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// How long browsers may keep an asset: the page names each with the release's version, so
/// an upgrade never meets a stale copy.
const ASSET_CACHE: &str = "public, max-age=86400";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "favicon-32x32.png",
        content_type: "image/png",
        body: include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    },
    Asset {
        name: "castellan-docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/docs/castellan-docs.js"),
    },
];

pub fn routes(mount: &mut Mount, settings: &crate::config::Docs) {
    if settings.enabled {
        mount.route("", "/docs", get(page));
        mount.route("", "/docs/{asset}", get(file));
    }
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(page, file))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/docs",
    summary = "Interactive API documentation (Swagger UI)",
    responses(
        (status = 200, description = "The page; it loads its assets and /openapi.json from this server", body = String, content_type = "text/html"),
    )
)]
async fn page() -> Response {
    let mut response = PAGE.into_response();
    secure_page(response.headers_mut(), POLICY);
    response
}

/// One of the assets; any other name (including one that is not valid UTF-8) is not found.
#[utoipa::path(
    get,
    path = "/docs/{asset}",
    summary = "A file of the documentation page",
    params(("asset" = String, Path, description = "swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png or castellan-docs.js")),
    responses(
        (status = 200, description = "The file, with its own content type", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "No such resource"),
    )
)]
async fn file(name: Result<Path<String>, PathRejection>) -> Response {
    let found = name
        .ok()
        .and_then(|Path(name)| ASSETS.iter().find(|a| a.name == name));
    match found {
        Some(a) => {
            let mut response = a.body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
            response
        }
        None => ApiError::not_found().into_response(),
    }
}
