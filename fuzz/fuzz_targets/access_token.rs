//! The access-token verifier. Arbitrary bytes as a compact JWS, alone or spliced into the
//! parts of a token the server really issued (header, claims or signature replaced), go to
//! the verifier directly and as the `Authorization` header of `GET /auth/me`. Nothing may
//! panic, and nothing but the issued token itself may be accepted.
#![no_main]

use axum::{
    body::Body,
    http::{HeaderValue, Request, StatusCode, header::AUTHORIZATION},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use castellan::core::VerifiedToken;
use castellan_fuzz::{Harness, pick};
use libfuzzer_sys::fuzz_target;

/// The token to try: the low four bits of `mode` say how `input` is combined with the issued
/// token's three parts.
fn candidate(issued: &str, mode: u8, input: &[u8]) -> Vec<u8> {
    let parts: Vec<&str> = issued.split('.').collect();
    let (header, claims, signature) = (parts[0], parts[1], parts[2]);
    let raw = String::from_utf8_lossy(input);
    let encoded = URL_SAFE_NO_PAD.encode(input);
    let joined = match mode & 0x0f {
        0 => return input.to_vec(),
        1 => format!("{header}.{raw}"),
        2 => format!("{raw}.{claims}.{signature}"),
        3 => format!("{header}.{claims}.{raw}"),
        // The input as the decoded JSON of a part: header fields (alg, kid, typ) or claims.
        4 => format!("{encoded}.{claims}.{signature}"),
        5 => format!("{header}.{encoded}.{signature}"),
        // An unsigned token with the input as its header ("alg": "none" and friends).
        _ => format!("{encoded}.{claims}."),
    };
    joined.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let h = Harness::get();
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let token = candidate(&h.access_token, mode, input);

    if let Ok(text) = std::str::from_utf8(&token) {
        if h.block_on(h.app.verify_access_token(text)).is_ok() {
            assert_eq!(text, h.access_token, "accepted a token it did not issue");
        }
        // Either kind of token, as `POST /auth/token/verify` reads it.
        match h.block_on(h.app.verify_token(text)) {
            Ok(VerifiedToken::Access(_)) => assert_eq!(text, h.access_token),
            Ok(VerifiedToken::Refresh(_)) => assert_eq!(text, h.refresh_token),
            Err(_) => {}
        }
    }

    // The same bytes as a bearer header, behind a scheme picked by the high bits.
    let scheme = pick(
        &["Bearer ", "bearer ", "", "Basic ", "Bearer  ", "Bearer\t"],
        mode >> 4,
    );
    let value = [scheme.as_bytes(), &token].concat();
    let Ok(value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let request = Request::get("/auth/me")
        .header(AUTHORIZATION, value.clone())
        .body(Body::empty())
        .expect("request");
    let answer = h.send(request);
    answer.assert_no_server_error("GET /auth/me");
    if answer.status == StatusCode::OK {
        let presented = String::from_utf8_lossy(value.as_bytes());
        let credential = presented.split_once(' ').map(|(_, t)| t.trim());
        assert_eq!(
            credential,
            Some(h.access_token.as_str()),
            "GET /auth/me accepted {presented:?}"
        );
    }
});
