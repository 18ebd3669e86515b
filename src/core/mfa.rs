//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) and recovery codes, and the MFA step of
//! a login. A code is accepted once: the last accepted time step is recorded per user with
//! a conditional update, so a replay fails on every instance.

use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret as TotpSecret, Totp};

use super::{Core, CoreError, IssuedTokens, RequestContext, Result, sealing, secrets};
use crate::{
    domain::{FieldErrors, Secret, User},
    store::{Factor, Purpose},
};

const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs; shown once, at setup.
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_uri: String,
    /// A PNG of the `otpauth_uri` QR code, base64.
    pub qr_png_base64: String,
}

/// The second factor presented to finish a login, or to prove presence.
pub enum SecondFactor {
    Code(String),
    Recovery(String),
    Password(Secret),
}

impl Core {
    fn totp(&self, secret_b32: &str, account: &str) -> Result<Totp> {
        let bytes = TotpSecret::try_from_base32(secret_b32)
            .map_err(|_| anyhow::anyhow!("stored TOTP secret is not base32"))?;
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(30)
            .with_secret(bytes)
            .with_account_name(account)
            .with_issuer(Some(self.settings.mfa.issuer.as_str()))
            .build()
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("TOTP: {e}")))
    }

    /// The user's TOTP secret (decrypted) and whether it is confirmed.
    async fn stored_totp(&self, user: &User) -> Result<Option<(Totp, String, bool, i64)>> {
        let Some(row) = self.store.totp(user.id).await? else {
            return Ok(None);
        };
        let key = self.settings.mfa.key_bytes();
        let plain = sealing::open(key.as_deref(), user.id, &row.secret)?;
        let totp = self.totp(&plain, &user.username)?;
        Ok(Some((
            totp,
            row.secret,
            row.confirmed_at.is_some(),
            row.last_step,
        )))
    }

    /// The time step `code` matches now, if any.
    fn matching_step(&self, totp: &Totp, code: &str) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = u64::try_from(self.clock.now()).ok()?;
        totp.check(&code, now).and_then(|s| i64::try_from(s).ok())
    }

    /// A new secret, pending until confirmed with a code. Refused while MFA is on.
    pub async fn totp_setup(&self, user_id: i64) -> Result<TotpSetup> {
        let user = self.user(user_id).await?;
        if user.mfa_enabled {
            return Err(already_on());
        }
        let secret = TotpSecret::from(secrets::random_bytes(20)).to_base32();
        let key = self.settings.mfa.key_bytes();
        let stored = sealing::seal(key.as_deref(), user.id, &secret)?;
        if !self
            .store
            .put_pending_totp(user.id, &stored, self.clock.now())
            .await?
        {
            return Err(already_on());
        }
        let totp = self.totp(&secret, &user.username)?;
        let otpauth_uri = totp
            .to_url()
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("otpauth URI: {e}")))?;
        let qr_png_base64 = totp
            .to_qr_base64()
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("QR code: {e}")))?;
        Ok(TotpSetup {
            secret,
            otpauth_uri,
            qr_png_base64,
        })
    }

    /// Turns MFA on with the first valid code; returns the recovery codes (shown once).
    pub async fn totp_confirm(
        &self,
        user_id: i64,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>> {
        let user = self.user(user_id).await?;
        let Some((totp, stored, confirmed, _)) = self.stored_totp(&user).await? else {
            return Err(invalid_code_field("Start the setup first."));
        };
        if confirmed {
            return Err(already_on());
        }
        let step = self
            .matching_step(&totp, code)
            .ok_or_else(|| invalid_code_field("The code is not valid."))?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_digest(c)).collect();
        let now = self.clock.now();
        if !self
            .store
            .confirm_totp(user_id, &stored, step, &hashes, now)
            .await?
        {
            return Err(invalid_code_field("The code is not valid."));
        }
        self.audit("mfa.enabled", Some(user_id), ctx, json!({"method": "totp"}))
            .await;
        Ok(codes)
    }

    /// Turns MFA off after a current code or the password.
    pub async fn totp_disable(
        &self,
        user_id: i64,
        proof: SecondFactor,
        ctx: &RequestContext,
    ) -> Result<()> {
        let user = self.user(user_id).await?;
        if !user.mfa_enabled {
            return Err(CoreError::Conflict {
                code: "MFA_NOT_ENABLED",
                message: "MFA is not enabled",
            });
        }
        let accepted = match &proof {
            SecondFactor::Password(p) => {
                let row = self.store.find_user(user_id).await?;
                let stored = row.map(|r| r.password_hash);
                self.hasher
                    .verify(self.hasher.reserve()?, p, stored.as_deref())
                    .await?
                    .valid
            }
            SecondFactor::Code(code) => match self.stored_totp(&user).await? {
                Some((totp, _, true, _)) => match self.matching_step(&totp, code) {
                    Some(step) => self.store.use_totp_step(user_id, step).await?,
                    None => false,
                },
                _ => false,
            },
            SecondFactor::Recovery(_) => false,
        };
        if !accepted {
            return Err(CoreError::InvalidCode);
        }
        self.store.disable_totp(user_id, self.clock.now()).await?;
        self.audit(
            "mfa.disabled",
            Some(user_id),
            ctx,
            json!({"method": "totp"}),
        )
        .await;
        Ok(())
    }

    /// The error a login with a correct password gets when the user has MFA: it carries a
    /// short-lived, single-use token for the second step.
    pub(crate) async fn mfa_challenge(&self, user: &User, ctx: &RequestContext) -> CoreError {
        let token = secrets::random_token(32);
        let now = self.clock.now();
        let expires = now + self.settings.mfa.token_ttl.as_secs();
        let stored = self
            .store
            .insert_one_time(
                &secrets::digest(&token),
                Purpose::Mfa,
                user.id,
                now,
                expires,
            )
            .await;
        if let Err(e) = stored {
            return e.into();
        }
        self.audit("login.mfa_required", Some(user.id), ctx, json!({}))
            .await;
        CoreError::MfaRequired {
            mfa_token: Secret::new(token),
        }
    }

    /// The second step of a login: a TOTP code or a recovery code with the `mfa_token`.
    /// The token and the factor are spent together; of parallel attempts one wins.
    pub async fn complete_mfa(
        &self,
        mfa_token: &str,
        factor: SecondFactor,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let hash = secrets::digest(mfa_token);
        let now = self.clock.now();
        let user_id = self
            .store
            .attempt_mfa_token(&hash, now)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let user = self.user(user_id).await?;
        let recovery_hash;
        let (found, method) = match &factor {
            SecondFactor::Code(code) => match self.stored_totp(&user).await? {
                Some((totp, _, true, _)) => {
                    (self.matching_step(&totp, code).map(Factor::Step), "totp")
                }
                _ => (None, "totp"),
            },
            SecondFactor::Recovery(code) => {
                recovery_hash = recovery_digest(code);
                (Some(Factor::Recovery(&recovery_hash)), "recovery_code")
            }
            SecondFactor::Password(_) => (None, "password"),
        };
        let done = match &found {
            Some(f) => self.store.complete_mfa(&hash, user_id, f, now).await?,
            None => false,
        };
        if !done || !user.is_active {
            self.audit(
                "login.mfa_failure",
                Some(user_id),
                ctx,
                json!({"method": method}),
            )
            .await;
            return Err(CoreError::InvalidCode);
        }
        self.audit("login.success", Some(user_id), ctx, json!({"mfa": method}))
            .await;
        self.start_session(user, ctx).await
    }
}

fn already_on() -> CoreError {
    CoreError::Conflict {
        code: "MFA_ALREADY_ENABLED",
        message: "MFA is already enabled; disable it first",
    }
}

fn invalid_code_field(message: &str) -> CoreError {
    CoreError::Validation(FieldErrors::single("code", message))
}

/// `xxxxx-xxxxx` from an alphabet without look-alikes (50 bits).
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = secrets::random_bytes(10);
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Recovery codes are compared case- and dash-insensitively, by digest.
fn recovery_digest(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secrets::digest(&normal)
}
