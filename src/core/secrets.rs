//! Randomness and digests for opaque credentials.

use aws_lc_rs::{digest, hmac};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// `n` bytes from the system CSPRNG, base64url-encoded.
pub fn random_token(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// `n` bytes from the operating system's CSPRNG (`getrandom(2)`). Not aws-lc's generator:
/// its first use seeds itself from CPU timing jitter, which took most of a start-up (the
/// first token is made before the server is ready) and far longer on a busy machine.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The system RNG failing is not recoverable; abort rather than hand out weak bytes.
    getrandom::getrandom(&mut buf).unwrap_or_else(|_| std::process::abort());
    buf
}

/// The stored form of an opaque credential: base64url(SHA-256(credential)).
pub fn digest(credential: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, credential.as_bytes()))
}

/// base64url(HMAC-SHA256(key, message)).
pub fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, message))
}

/// Constant-time equality for secrets of any length.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// SHA-256 of a credential, as a map key (never stored or shown).
pub fn fingerprint(credential: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, credential.as_bytes()).as_ref());
    out
}
