//! Stored password hashes Castellan can verify: its own argon2id PHC strings, and the forms
//! written by the systems it replaces — Django's `pbkdf2_sha256$`, `pbkdf2_sha1$`,
//! `argon2$`, `bcrypt_sha256$` and `bcrypt$` hashers, plain bcrypt (`$2a$`, `$2b$`, `$2y$`),
//! and argon2 PHC strings from argon2-cffi, passlib and pwdlib (argon2i, argon2d, argon2id,
//! and passlib's version-less v1.0 form). Every comparison is constant-time; anything but a
//! current argon2id hash is re-hashed after the first successful login.
//!
//! Cost parameters are bounded so that one stored hash cannot make a login exhaust memory
//! or CPU; an import refuses hashes outside the bounds rather than locking users out later.

use std::{borrow::Cow, num::NonZeroU32};

use aws_lc_rs::{digest, pbkdf2};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::config::Passwords as Argon2Bounds;

const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
const MIN_BCRYPT_COST: u32 = 4;
const MAX_BCRYPT_COST: u32 = 16;

/// A stored hash, recognised and bounds-checked.
pub enum StoredHash<'a> {
    /// An argon2 PHC string with an explicit version. `foreign` marks one rewritten from
    /// another system's form, which is always replaced by Castellan's own on login.
    Argon2 { phc: Cow<'a, str>, foreign: bool },
    /// Django's PBKDF2 hashers: `pbkdf2_<digest>$<iterations>$<salt>$<base64 key>`.
    Pbkdf2 {
        algorithm: pbkdf2::Algorithm,
        iterations: NonZeroU32,
        salt: &'a str,
        derived: Vec<u8>,
    },
    /// A bcrypt hash; Django's `bcrypt_sha256` first hashes the password with SHA-256 and
    /// feeds bcrypt the hex digest, so long passwords are not truncated at 72 bytes.
    Bcrypt { hash: &'a str, sha256_prehash: bool },
}

impl<'a> StoredHash<'a> {
    /// Recognises `stored`, or says why it cannot be verified.
    pub fn parse(stored: &'a str) -> Result<Self, &'static str> {
        if stored.starts_with("$argon2") {
            return argon2_phc(stored, false);
        }
        if stored.starts_with("$2") {
            return bcrypt(stored, false);
        }
        let (algorithm, rest) = stored
            .split_once('$')
            .ok_or("not a recognised password hash format")?;
        match algorithm {
            "argon2" => argon2_phc(&stored["argon2".len()..], true),
            "bcrypt_sha256" => bcrypt(rest, true),
            "bcrypt" => bcrypt(rest, false),
            "pbkdf2_sha256" => pbkdf2(pbkdf2::PBKDF2_HMAC_SHA256, rest),
            "pbkdf2_sha1" => pbkdf2(pbkdf2::PBKDF2_HMAC_SHA1, rest),
            "" => Err("not a recognised password hash format"),
            _ => Err("unsupported password hash algorithm"),
        }
    }

    /// Checks `password` against a non-argon2 hash (argon2 is checked by the hasher, which
    /// also judges its parameters).
    pub fn matches(&self, password: &str) -> bool {
        match self {
            StoredHash::Argon2 { .. } => false,
            StoredHash::Pbkdf2 {
                algorithm,
                iterations,
                salt,
                derived,
            } => pbkdf2::verify(
                *algorithm,
                *iterations,
                salt.as_bytes(),
                password.as_bytes(),
                derived,
            )
            .is_ok(),
            StoredHash::Bcrypt {
                hash,
                sha256_prehash,
            } => {
                let outcome = if *sha256_prehash {
                    let digest = digest::digest(&digest::SHA256, password.as_bytes());
                    bcrypt::verify(hex(digest.as_ref()), hash)
                } else {
                    bcrypt::verify(password, hash)
                };
                outcome.unwrap_or(false)
            }
        }
    }
}

/// `phc` is `$argon2<variant>$[v=<n>$]m=…,t=…,p=…$<salt>$<hash>`. A missing version means
/// 0x10 (the PHC rule, and how passlib writes v1.0 hashes); it is made explicit because the
/// argon2 crate would otherwise assume 0x13.
fn argon2_phc(phc: &str, foreign: bool) -> Result<StoredHash<'_>, &'static str> {
    let malformed = "malformed argon2 hash";
    let mut parts = phc.split('$');
    let (Some(""), Some(variant), Some(third)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed);
    };
    if !matches!(variant, "argon2id" | "argon2i" | "argon2d") {
        return Err("unsupported argon2 variant");
    }
    let phc: Cow<'_, str> = if third.starts_with("v=") {
        Cow::Borrowed(phc)
    } else {
        Cow::Owned(format!("${variant}$v=16${}", &phc[variant.len() + 2..]))
    };
    let foreign = foreign || !third.starts_with("v=");
    let parsed = argon2::PasswordHash::new(&phc).map_err(|_| malformed)?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(malformed);
    }
    let params = argon2::Params::try_from(&parsed).map_err(|_| "invalid argon2 parameters")?;
    if params.m_cost() > Argon2Bounds::MAX_MEMORY_KIB
        || params.t_cost() > Argon2Bounds::MAX_ITERATIONS
        || params.p_cost() > Argon2Bounds::MAX_PARALLELISM
    {
        return Err("argon2 cost parameters exceed the supported bounds");
    }
    Ok(StoredHash::Argon2 { phc, foreign })
}

fn bcrypt(hash: &str, sha256_prehash: bool) -> Result<StoredHash<'_>, &'static str> {
    let malformed = "malformed bcrypt hash";
    let b = hash.as_bytes();
    if hash.len() != 60 || !hash.is_ascii() || b[0] != b'$' || b[3] != b'$' || b[6] != b'$' {
        return Err(malformed);
    }
    // `$2x$` marks hashes from a buggy implementation whose results differ; not accepted.
    if !matches!(&hash[1..3], "2a" | "2b" | "2y") {
        return Err("unsupported bcrypt variant");
    }
    let cost: u32 = hash[4..6].parse().map_err(|_| malformed)?;
    if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&cost) {
        return Err("bcrypt cost outside the supported bounds");
    }
    Ok(StoredHash::Bcrypt {
        hash,
        sha256_prehash,
    })
}

fn pbkdf2(algorithm: pbkdf2::Algorithm, rest: &str) -> Result<StoredHash<'_>, &'static str> {
    let malformed = "malformed pbkdf2 hash";
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(derived)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let iterations: u32 = iterations.parse().map_err(|_| malformed)?;
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err("pbkdf2 iterations exceed the supported bound");
    }
    let iterations = NonZeroU32::new(iterations).ok_or(malformed)?;
    let derived = STANDARD.decode(derived).map_err(|_| malformed)?;
    if salt.is_empty() || derived.is_empty() || derived.len() > 64 {
        return Err(malformed);
    }
    Ok(StoredHash::Pbkdf2 {
        algorithm,
        iterations,
        salt,
        derived,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn django_pbkdf2(password: &str, salt: &str, iterations: u32) -> String {
        let mut out = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap(),
            salt.as_bytes(),
            password.as_bytes(),
            &mut out,
        );
        format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(out))
    }

    #[test]
    fn pbkdf2_verifies_only_the_right_password() {
        let stored = django_pbkdf2("s3cret pass", "abcdefgh12345678", 1000);
        let parsed = StoredHash::parse(&stored).unwrap();
        assert!(parsed.matches("s3cret pass"));
        assert!(!parsed.matches("s3cret pas"));
    }

    #[test]
    fn bcrypt_sha256_prehashes_with_hex_sha256() {
        let long = "x".repeat(100);
        let digest = hex(digest::digest(&digest::SHA256, long.as_bytes()).as_ref());
        let inner = bcrypt::hash(digest, 4).unwrap();
        let stored = format!("bcrypt_sha256${inner}");
        let parsed = StoredHash::parse(&stored).unwrap();
        assert!(parsed.matches(&long));
        // The first 72 bytes alone are not enough: no truncation.
        assert!(!parsed.matches(&"x".repeat(99)));
    }

    #[test]
    fn unknown_and_out_of_bounds_hashes_are_refused_with_a_reason() {
        for (stored, reason) in [
            ("md5$salt$abc", "unsupported password hash algorithm"),
            ("!unusable", "not a recognised password hash format"),
            ("", "not a recognised password hash format"),
            ("pbkdf2_sha256$x$salt$AAAA", "malformed pbkdf2 hash"),
            (
                "pbkdf2_sha256$999999999$salt$AAAA",
                "pbkdf2 iterations exceed the supported bound",
            ),
            (
                "$argon2x$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
                "unsupported argon2 variant",
            ),
            (
                "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
                "argon2 cost parameters exceed the supported bounds",
            ),
            (
                "$2x$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde",
                "unsupported bcrypt variant",
            ),
            ("$2b$10$short", "malformed bcrypt hash"),
        ] {
            assert_eq!(StoredHash::parse(stored).err(), Some(reason), "{stored}");
        }
    }

    #[test]
    fn versionless_argon2_is_read_as_v16() {
        let parsed =
            StoredHash::parse("$argon2i$m=512,t=2,p=2$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").unwrap();
        match parsed {
            StoredHash::Argon2 { phc, foreign } => {
                assert!(phc.starts_with("$argon2i$v=16$m=512,t=2,p=2$"));
                assert!(foreign);
            }
            _ => panic!("not argon2"),
        }
    }
}
