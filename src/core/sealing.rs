//! Optional encryption at rest for TOTP secrets (AES-256-GCM, bound to the user id), with
//! the key from `mfa.encryption_key`. Without a key, secrets are stored as they are.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use super::secrets;

const SEALED: &str = "aes256gcm:";

fn key(bytes: &[u8]) -> anyhow::Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, bytes)
        .map_err(|_| anyhow::anyhow!("mfa.encryption_key is not a 256-bit key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// The stored form of `plain`: sealed when a key is configured.
pub fn seal(key_bytes: Option<&[u8]>, user_id: i64, plain: &str) -> anyhow::Result<String> {
    let Some(bytes) = key_bytes else {
        return Ok(plain.to_owned());
    };
    let nonce_bytes = secrets::random_bytes(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes)
        .map_err(|_| anyhow::anyhow!("nonce of the wrong length"))?;
    let mut data = plain.as_bytes().to_vec();
    key(bytes)?
        .seal_in_place_append_tag(nonce, Aad::from(user_id.to_be_bytes()), &mut data)
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&data);
    Ok(format!("{SEALED}{}", B64.encode(out)))
}

/// Reads a stored value back; sealed values need the key they were sealed with.
pub fn open(key_bytes: Option<&[u8]>, user_id: i64, stored: &str) -> anyhow::Result<String> {
    let Some(encoded) = stored.strip_prefix(SEALED) else {
        return Ok(stored.to_owned());
    };
    let bytes = key_bytes.ok_or_else(|| {
        anyhow::anyhow!("a TOTP secret is encrypted but mfa.encryption_key is not set")
    })?;
    let raw = B64
        .decode(encoded)
        .map_err(|_| anyhow::anyhow!("sealed value is not base64"))?;
    if raw.len() < NONCE_LEN {
        anyhow::bail!("sealed value too short");
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| anyhow::anyhow!("nonce of the wrong length"))?;
    let mut data = sealed.to_vec();
    let plain = key(bytes)?
        .open_in_place(nonce, Aad::from(user_id.to_be_bytes()), &mut data)
        .map_err(|_| anyhow::anyhow!("a TOTP secret does not open with mfa.encryption_key"))?;
    String::from_utf8(plain.to_vec()).map_err(|_| anyhow::anyhow!("sealed value is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = [7u8; 32];
        let sealed = seal(Some(&k), 1, "JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with(SEALED) && !sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(open(Some(&k), 1, &sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(open(Some(&k), 2, &sealed).is_err(), "bound to the user");
        assert!(
            open(Some(&[8u8; 32]), 1, &sealed).is_err(),
            "needs the same key"
        );
        assert!(open(None, 1, &sealed).is_err());
        assert_eq!(seal(None, 1, "plain").unwrap(), "plain");
    }
}
