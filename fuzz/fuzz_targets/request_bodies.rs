//! The request-body parsers: arbitrary bytes, under a content type picked by the input, as
//! the body of every login, registration, refresh and verification endpoint of each
//! dialect, through the same router, extractors (JSON and form) and field readers the
//! server runs. Nothing may panic or answer a server error.
#![no_main]

use axum::{
    body::Body,
    http::{Request, header::CONTENT_TYPE},
};
use castellan_fuzz::{Harness, pick};
use libfuzzer_sys::fuzz_target;

const ENDPOINTS: [&str; 12] = [
    "/auth/register",
    "/auth/token",
    "/auth/token/refresh",
    "/auth/token/verify",
    "/auth/logout",
    "/auth/v1/renew",
    "/api/token/",
    "/api/token/refresh/",
    "/api/token/verify/",
    "/api/register/",
    "/api/auth/login",
    "/api/auth/refresh-token",
];

const CONTENT_TYPES: [Option<&str>; 7] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let [endpoint, media, body @ ..] = data else {
        return;
    };
    let path = pick(&ENDPOINTS, *endpoint);
    let mut request = Request::post(path);
    if let Some(media) = pick(&CONTENT_TYPES, *media) {
        request = request.header(CONTENT_TYPE, media);
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    Harness::get()
        .send(request)
        .assert_no_server_error(&format!("POST {path}"));
});
