//! The OAuth 2.0 parsers: arbitrary bytes as the query of the authorization and logout
//! endpoints, and as the form body (with no, genuine or arbitrary client authentication) of
//! the token, introspection, revocation and hosted-login endpoints. Nothing may panic or
//! answer a server error.
#![no_main]

use axum::{
    body::Body,
    http::{
        HeaderValue, Request,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
};
use base64::{Engine, engine::general_purpose::STANDARD};
use castellan_fuzz::{CLIENT_ID, Harness};
use libfuzzer_sys::fuzz_target;

/// `bytes` as a query string: the characters a query may hold as they are (so `&`, `=` and
/// `%` keep their meaning), anything else percent-encoded, so every input is a valid request
/// target.
fn query(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form(path: &str, authorization: Option<HeaderValue>, body: &[u8]) -> Request<Body> {
    let mut request = Request::post(path).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request.body(Body::from(body.to_vec())).expect("request")
}

fuzz_target!(|data: &[u8]| {
    let h = Harness::get();
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let genuine = || {
        let credentials = STANDARD.encode(format!("{CLIENT_ID}:{}", h.client_secret));
        HeaderValue::from_str(&format!("Basic {credentials}")).ok()
    };
    let request = match mode % 8 {
        0 => Request::get(format!("/oauth/authorize?{}", query(input))).body(Body::empty()),
        1 => Ok(form("/oauth/token", None, input)),
        2 => Ok(form("/oauth/token", genuine(), input)),
        3 => {
            // The first line is the Authorization header, the rest the body.
            let (header, body) = match input.iter().position(|&b| b == b'\n') {
                Some(at) => (&input[..at], &input[at + 1..]),
                None => (input, &[][..]),
            };
            Ok(form(
                "/oauth/token",
                HeaderValue::from_bytes(header).ok(),
                body,
            ))
        }
        4 => Ok(form("/oauth/introspect", genuine(), input)),
        5 => Ok(form("/oauth/revoke", None, input)),
        6 => Ok(form("/oauth/login", None, input)),
        _ => Request::get(format!("/oauth/logout?{}", query(input))).body(Body::empty()),
    };
    let request = request.expect("request");
    let what = format!("{} {}", request.method(), request.uri().path());
    h.send(request).assert_no_server_error(&what);
});
