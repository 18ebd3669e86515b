//! Access tokens of the SimpleJWT service Castellan replaces: HS256 with Django's
//! `SECRET_KEY`, claims `token_type`, `exp`, `iat`, `jti`, `user_id`, usually no `kid`, `iss`
//! or `aud`. Accepted only while `tokens.legacy_hs256_secret` is set and until they expire,
//! so that clients mid-session during the switch are not logged out.

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode};
use serde::Deserialize;

use super::{AccessClaims, Core, secrets};

/// Session ids of legacy tokens start with this; they have no session row.
const LEGACY_SID_PREFIX: &str = "legacy:";

pub fn is_legacy_sid(sid: &str) -> bool {
    sid.starts_with(LEGACY_SID_PREFIX)
}

/// The verification key for legacy tokens, when the operator configured one.
pub struct LegacyTokens {
    key: DecodingKey,
}

impl LegacyTokens {
    pub fn new(secret: Option<&str>) -> Option<Self> {
        secret.map(|s| Self {
            key: DecodingKey::from_secret(s.as_bytes()),
        })
    }
}

#[derive(Deserialize)]
struct LegacyClaims {
    token_type: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    user_id: UserIdClaim,
}

/// SimpleJWT writes integer primary keys as numbers; some setups stringify them.
#[derive(Deserialize)]
#[serde(untagged)]
enum UserIdClaim {
    Number(i64),
    Text(String),
}

impl Core {
    /// Checks a token that is not one of Castellan's own (`typ` other than `at+jwt`) against
    /// the legacy secret. Strictly HS256; `exp` is checked against the core clock; the user
    /// must exist and be active.
    pub(super) async fn check_legacy_token(
        &self,
        token: &str,
        header: &Header,
        now: i64,
    ) -> Result<AccessClaims, &'static str> {
        let legacy = self.legacy_tokens.as_ref().ok_or("wrong typ")?;
        if header.alg != Algorithm::HS256 {
            return Err("legacy token not HS256");
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is checked below against the injectable clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        let claims = decode::<LegacyClaims>(token, &legacy.key, &validation)
            .map_err(|_| "legacy signature or claims")?
            .claims;
        if claims.token_type != "access" {
            return Err("legacy token is not an access token");
        }
        if claims.exp <= now {
            return Err("legacy token expired");
        }
        let leeway = self.settings.tokens.leeway.as_secs();
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err("legacy token not yet valid");
        }
        let user_id = match claims.user_id {
            UserIdClaim::Number(n) => n,
            UserIdClaim::Text(t) => t.parse().map_err(|_| "legacy user_id not an integer")?,
        };
        let jti = claims.jti.unwrap_or_else(|| secrets::digest(token));
        let sid = format!("{LEGACY_SID_PREFIX}{jti}");
        if self.revocations.is_revoked(&sid) {
            return Err("legacy token revoked");
        }
        let user = self
            .user(user_id)
            .await
            .map_err(|_| "legacy token's user not found")?;
        if !user.is_active {
            return Err("legacy token's user inactive");
        }
        let iat = claims.iat.unwrap_or(now);
        Ok(AccessClaims {
            iss: self.settings.issuer().to_owned(),
            sub: user.id.to_string(),
            aud: self.settings.audience().to_owned(),
            exp: claims.exp,
            iat,
            nbf: iat,
            jti,
            sid,
            client_id: "legacy".into(),
            username: user.username,
            roles: user.roles,
            user_id: user.id,
            token_type: "access".into(),
            scope: None,
        })
    }
}
