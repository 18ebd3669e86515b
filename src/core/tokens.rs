//! Access tokens: RFC 9068 JWTs signed by the key ring, verified with an algorithm
//! allow-list per `kid`, exact `exp`, and the session's liveness.

use jsonwebtoken::{Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use super::{Core, CoreError, RefreshInfo, secrets};
use crate::domain::User;

pub const ACCESS_TYP: &str = "at+jwt";
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: String,
    pub client_id: String,
    pub username: String,
    pub roles: Vec<String>,
    /// SimpleJWT-era clients read the numeric user id from here.
    pub user_id: i64,
    /// SimpleJWT marks its tokens this way; some clients check it.
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A token presented for verification: an access token (JWT) or a refresh token (opaque).
pub enum VerifiedToken {
    Access(Box<AccessClaims>),
    Refresh(RefreshInfo),
}

/// An access token as handed to a client.
pub struct AccessToken {
    pub token: String,
    pub expires_at: i64,
    pub expires_in: i64,
}

impl Core {
    pub fn issue_access_token(&self, user: &User, sid: &str) -> Result<AccessToken, CoreError> {
        let now = self.clock.now();
        let ttl = self.settings.tokens.access_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer().to_owned(),
            sub: user.id.to_string(),
            aud: self.settings.audience().to_owned(),
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: secrets::random_token(16),
            sid: sid.to_owned(),
            client_id: "castellan".into(),
            username: user.username.clone(),
            roles: user.roles.clone(),
            user_id: user.id,
            token_type: "access".into(),
            scope: None,
        };
        let token = self.keys.signer().sign_jwt(ACCESS_TYP, &claims)?;
        Ok(AccessToken {
            token,
            expires_at: now + ttl,
            expires_in: ttl,
        })
    }

    /// Verifies either kind of token: JWTs are access tokens, anything else a refresh token.
    pub async fn verify_token(&self, token: &str) -> Result<VerifiedToken, CoreError> {
        if token.contains('.') {
            let claims = self.verify_access_token(token).await?;
            Ok(VerifiedToken::Access(Box::new(claims)))
        } else {
            Ok(VerifiedToken::Refresh(self.inspect_refresh(token).await?))
        }
    }

    /// Verifies signature, header, registered claims and the session; any failure is
    /// `TokenInvalid` (the reason is logged at debug level, never shown).
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, CoreError> {
        self.check_access_token(token).await.map_err(|reason| {
            tracing::debug!(reason, "access token refused");
            CoreError::TokenInvalid
        })
    }

    async fn check_access_token(&self, token: &str) -> Result<AccessClaims, &'static str> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("too long");
        }
        // A token seen before had its signature and registered claims checked already;
        // time and the session are checked on every use.
        let fingerprint = secrets::fingerprint(token);
        if let Some(claims) = self.verified_tokens.get(&fingerprint) {
            return self.still_valid(claims);
        }

        let header = decode_header(token).map_err(|_| "malformed header")?;
        if header.jwk.is_some()
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err("embedded or remote key material");
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        let now = self.clock.now();
        if !typ_ok {
            // Only a token of the replaced SimpleJWT service may lack our `typ`, and only
            // when the operator configured its secret.
            return self.check_legacy_token(token, &header, now).await;
        }
        let kid = header.kid.as_deref().ok_or("no kid")?;
        let verifier = self
            .keys
            .find_verifier(&self.store, kid, now)
            .await
            .ok_or("unknown kid")?;
        if header.alg != verifier.algorithm {
            return Err("algorithm does not match the key");
        }
        let mut validation = Validation::new(verifier.algorithm);
        // Time is checked below against the injectable clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[self.settings.issuer()]);
        validation.set_audience(&[self.settings.audience()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<AccessClaims>(token, &verifier.key, &validation)
            .map_err(|_| "signature or claims")?
            .claims;
        let claims = self.still_valid(claims)?;
        self.verified_tokens.insert(fingerprint, claims.clone());
        Ok(claims)
    }

    /// The checks that depend on when and whether the session lives.
    fn still_valid(&self, claims: AccessClaims) -> Result<AccessClaims, &'static str> {
        let now = self.clock.now();
        let leeway = self.settings.tokens.leeway.as_secs();
        if claims.exp <= now {
            return Err("expired");
        }
        if claims.nbf > now + leeway || claims.iat > now + leeway {
            return Err("not yet valid");
        }
        if self.revocations.is_revoked(&claims.sid) {
            return Err("session revoked");
        }
        Ok(claims)
    }
}
