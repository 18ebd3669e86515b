//! Signing keys: generated on first start, stored in the database so that every instance
//! signs and verifies with the same set, published as a JWKS with RFC 7638 `kid`s.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use aws_lc_rs::{
    digest,
    encoding::AsDer,
    hmac,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
        RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{DecodingKey, jwk::Jwk};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    config::Algorithm,
    store::{KeyRow, Store},
};

enum Signer {
    Ed(Box<Ed25519KeyPair>),
    Ec(Box<EcdsaKeyPair>),
    Rsa(Box<RsaKeyPair>),
    Hmac(Box<hmac::Key>),
}

/// A private key ready to sign, parsed once.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    signer: Signer,
}

impl SigningKey {
    /// Serializes `claims` into a compact JWS with header `{alg, typ, kid}`.
    pub fn sign_jwt<C: Serialize>(&self, typ: &str, claims: &C) -> anyhow::Result<String> {
        let header = json!({"alg": alg_name(self.algorithm), "typ": typ, "kid": self.kid});
        let mut jwt = B64.encode(serde_json::to_vec(&header)?);
        jwt.push('.');
        jwt.push_str(&B64.encode(serde_json::to_vec(claims)?));
        let signature = self.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&B64.encode(signature));
        Ok(jwt)
    }

    fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let fail = |_| anyhow::anyhow!("signing failed");
        Ok(match &self.signer {
            Signer::Ed(k) => k.sign(message).as_ref().to_vec(),
            Signer::Ec(k) => k
                .sign(&SystemRandom::new(), message)
                .map_err(fail)?
                .as_ref()
                .to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(fail)?;
                sig
            }
            Signer::Hmac(k) => hmac::sign(k, message).as_ref().to_vec(),
        })
    }
}

/// A public key (or shared secret) that verifies tokens naming its `kid`.
pub struct Verifier {
    pub algorithm: jsonwebtoken::Algorithm,
    pub key: DecodingKey,
}

struct KeySet {
    signer: Arc<SigningKey>,
    /// The newest active key of every stored algorithm (ID tokens may ask for any).
    by_algorithm: HashMap<&'static str, Arc<SigningKey>>,
    verifiers: HashMap<String, Arc<Verifier>>,
    jwks: Arc<String>,
    /// What the JWKS publishes, for the key-age metrics.
    published: Arc<[PublishedKey]>,
}

/// A key in the JWKS: who it is and when it was made.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub kid: String,
    pub algorithm: &'static str,
    /// Unix second the key was generated.
    pub created_at: i64,
}

pub struct KeyRing {
    algorithm: Algorithm,
    hs256_secret: Option<Vec<u8>>,
    /// Seconds a retired key stays published: the longest a token it signed can live.
    retention: i64,
    set: RwLock<Arc<KeySet>>,
    /// Unix second of the last reload, so unknown `kid`s cannot hammer the database.
    last_reload: Mutex<i64>,
}

pub fn alg_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::HS256 => "HS256",
    }
}

fn parse_alg(name: &str) -> Option<Algorithm> {
    [
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::HS256,
    ]
    .into_iter()
    .find(|a| alg_name(*a) == name)
}

impl KeyRing {
    pub async fn load(
        store: &Store,
        algorithm: Algorithm,
        hs256_secret: Option<&str>,
        retention: i64,
        now: i64,
    ) -> anyhow::Result<Self> {
        let ring = Self {
            algorithm,
            hs256_secret: hs256_secret.map(|s| s.as_bytes().to_vec()),
            retention,
            set: RwLock::new(Arc::new(KeySet {
                signer: Arc::new(placeholder()),
                by_algorithm: HashMap::new(),
                verifiers: HashMap::new(),
                jwks: Arc::default(),
                published: Arc::new([]),
            })),
            last_reload: Mutex::new(i64::MIN),
        };
        if algorithm != Algorithm::HS256 && !ring.has_active(store, now).await? {
            store.insert_signing_key(&generate(algorithm, now)?).await?;
        }
        ring.reload(store, now).await?;
        Ok(ring)
    }

    async fn has_active(&self, store: &Store, now: i64) -> anyhow::Result<bool> {
        let rows = store.signing_keys(now).await?;
        Ok(rows
            .iter()
            .any(|r| r.retired_at.is_none() && r.algorithm == alg_name(self.algorithm)))
    }

    /// Re-reads the key table: picks up keys added or retired by other instances.
    pub async fn reload(&self, store: &Store, now: i64) -> anyhow::Result<()> {
        let rows = store.signing_keys(now - self.retention).await?;
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        let mut ages = Vec::new();
        let mut signer = None;
        let mut newest = HashMap::new();
        for row in &rows {
            let Some(alg) = parse_alg(&row.algorithm) else {
                continue;
            };
            let public: Value = serde_json::from_str(&row.public_jwk)?;
            let jwk: Jwk = serde_json::from_value(public.clone())?;
            verifiers.insert(
                row.kid.clone(),
                Arc::new(Verifier {
                    algorithm: jwt_alg(alg),
                    key: DecodingKey::from_jwk(&jwk)?,
                }),
            );
            published.push(public);
            ages.push(PublishedKey {
                kid: row.kid.clone(),
                algorithm: alg_name(alg),
                created_at: row.created_at,
            });
            if row.retired_at.is_none() {
                newest.insert(alg_name(alg), row);
            }
            if row.retired_at.is_none() && alg == self.algorithm {
                signer = Some(row); // rows are oldest first: the newest active key signs
            }
        }
        let signer = match (&self.hs256_secret, signer) {
            (Some(secret), _) if self.algorithm == Algorithm::HS256 => {
                let kid = format!(
                    "hs256-{}",
                    &B64.encode(digest::digest(&digest::SHA256, secret))[..16]
                );
                verifiers.insert(
                    kid.clone(),
                    Arc::new(Verifier {
                        algorithm: jsonwebtoken::Algorithm::HS256,
                        key: DecodingKey::from_secret(secret),
                    }),
                );
                SigningKey {
                    kid,
                    algorithm: Algorithm::HS256,
                    signer: Signer::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
                }
            }
            (_, Some(row)) => parse_private(row)?,
            _ => anyhow::bail!("no active {} signing key", alg_name(self.algorithm)),
        };
        let jwks = Arc::new(serde_json::to_string(&json!({ "keys": published }))?);
        let mut by_algorithm = HashMap::new();
        for (name, row) in newest {
            by_algorithm.insert(name, Arc::new(parse_private(row)?));
        }
        let set = KeySet {
            signer: Arc::new(signer),
            by_algorithm,
            verifiers,
            jwks,
            published: ages.into(),
        };
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = now;
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn signer(&self) -> Arc<SigningKey> {
        self.current().signer.clone()
    }

    /// The active key of `algorithm`, if one is stored.
    pub fn signer_for(&self, algorithm: Algorithm) -> Option<Arc<SigningKey>> {
        self.current()
            .by_algorithm
            .get(alg_name(algorithm))
            .cloned()
    }

    /// The active key of `algorithm`, generated and stored first when there is none.
    pub async fn ensure(
        &self,
        store: &Store,
        algorithm: Algorithm,
        now: i64,
    ) -> anyhow::Result<Arc<SigningKey>> {
        if let Some(key) = self.signer_for(algorithm) {
            return Ok(key);
        }
        self.reload(store, now).await?;
        if let Some(key) = self.signer_for(algorithm) {
            return Ok(key);
        }
        store.insert_signing_key(&generate(algorithm, now)?).await?;
        self.reload(store, now).await?;
        self.signer_for(algorithm)
            .ok_or_else(|| anyhow::anyhow!("no {} key after generating one", alg_name(algorithm)))
    }

    pub fn verifier(&self, kid: &str) -> Option<Arc<Verifier>> {
        self.current().verifiers.get(kid).cloned()
    }

    /// Looks a `kid` up, re-reading the table at most once a second if it is unknown
    /// (another instance may have rotated).
    pub async fn find_verifier(&self, store: &Store, kid: &str, now: i64) -> Option<Arc<Verifier>> {
        if let Some(v) = self.verifier(kid) {
            return Some(v);
        }
        let due = {
            let mut last = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
            let due = now > *last;
            if due {
                *last = now;
            }
            due
        };
        if due && let Err(e) = self.reload(store, now).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        self.verifier(kid)
    }

    pub fn jwks(&self) -> Arc<String> {
        self.current().jwks.clone()
    }

    /// The keys in the JWKS, oldest first.
    pub fn published(&self) -> Arc<[PublishedKey]> {
        self.current().published.clone()
    }

    /// Adds a fresh key for the configured algorithm (and for every other algorithm in use,
    /// such as the RS256 key of ID tokens) and retires the others; retired public keys stay
    /// in the JWKS for `retention` seconds. Returns the new `kid` of the configured algorithm.
    pub async fn rotate(&self, store: &Store, now: i64) -> anyhow::Result<String> {
        if self.algorithm == Algorithm::HS256 {
            anyhow::bail!("HS256 uses tokens.secret; rotate it in the configuration");
        }
        self.reload(store, now).await?;
        let mut algorithms = vec![self.algorithm];
        let set = self.current();
        for name in set.by_algorithm.keys() {
            if let Some(a) = parse_alg(name).filter(|a| !algorithms.contains(a)) {
                algorithms.push(a);
            }
        }
        let mut configured = String::new();
        for algorithm in algorithms {
            let row = generate(algorithm, now)?;
            store.insert_signing_key(&row).await?;
            store
                .retire_signing_keys(&row.algorithm, &row.kid, now)
                .await?;
            if algorithm == self.algorithm {
                configured = row.kid;
            }
        }
        self.reload(store, now).await?;
        Ok(configured)
    }
}

fn placeholder() -> SigningKey {
    SigningKey {
        kid: String::new(),
        algorithm: Algorithm::HS256,
        signer: Signer::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &[]))),
    }
}

fn jwt_alg(a: Algorithm) -> jsonwebtoken::Algorithm {
    match a {
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
    }
}

fn parse_private(row: &KeyRow) -> anyhow::Result<SigningKey> {
    let bad = |_| anyhow::anyhow!("stored signing key {} cannot be parsed", row.kid);
    let algorithm = parse_alg(&row.algorithm)
        .ok_or_else(|| anyhow::anyhow!("unknown algorithm {}", row.algorithm))?;
    let der = &row.private_der;
    let signer = match algorithm {
        Algorithm::EdDSA => Signer::Ed(Box::new(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?)),
        Algorithm::ES256 => Signer::Ec(Box::new(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?,
        )),
        Algorithm::RS256 => Signer::Rsa(Box::new(RsaKeyPair::from_pkcs8(der).map_err(bad)?)),
        Algorithm::HS256 => anyhow::bail!("HS256 keys are not stored"),
    };
    Ok(SigningKey {
        kid: row.kid.clone(),
        algorithm,
        signer,
    })
}

/// Makes a new key pair: PKCS#8 private key and the public JWK with its thumbprint `kid`.
fn generate(algorithm: Algorithm, now: i64) -> anyhow::Result<KeyRow> {
    let rng = SystemRandom::new();
    let fail = |_| anyhow::anyhow!("key generation failed");
    let (der, public): (Vec<u8>, Value) = match algorithm {
        Algorithm::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(fail)?;
            let pair =
                Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| anyhow::anyhow!("bad key"))?;
            let x = B64.encode(pair.public_key().as_ref());
            (
                doc.as_ref().to_vec(),
                json!({"crv": "Ed25519", "kty": "OKP", "x": x}),
            )
        }
        Algorithm::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(fail)?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| anyhow::anyhow!("bad key"))?;
            let point = pair.public_key().as_ref(); // 0x04 || x || y
            let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
            (
                doc.as_ref().to_vec(),
                json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
            )
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(fail)?;
            let public = pair.public_key();
            let n = B64.encode(public.modulus().big_endian_without_leading_zero());
            let e = B64.encode(public.exponent().big_endian_without_leading_zero());
            (der.as_ref().to_vec(), json!({"e": e, "kty": "RSA", "n": n}))
        }
        Algorithm::HS256 => anyhow::bail!("HS256 keys come from tokens.secret"),
    };
    // RFC 7638: the required members, lexicographically ordered, no whitespace.
    let thumbprint = B64.encode(digest::digest(
        &digest::SHA256,
        serde_json::to_string(&public)?.as_bytes(),
    ));
    let mut jwk = public;
    if let Value::Object(map) = &mut jwk {
        map.insert("kid".into(), thumbprint.clone().into());
        map.insert("alg".into(), alg_name(algorithm).into());
        map.insert("use".into(), "sig".into());
    }
    Ok(KeyRow {
        kid: thumbprint,
        algorithm: alg_name(algorithm).into(),
        private_der: der,
        public_jwk: jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}
