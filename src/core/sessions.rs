//! Sessions and their refresh-token families: start, rotate (with reuse detection and a
//! retry grace window), inspect and revoke.

use serde_json::json;

use super::{
    AccessClaims, AccessToken, Core, CoreError, RequestContext, Result,
    legacy_tokens::is_legacy_sid, secrets,
};
use crate::{
    domain::User,
    store::{NewSession, Revocation, Revoke, SessionRow, revocation_payload},
};

/// Everything a login or refresh hands back; each dialect renders what it needs.
pub struct IssuedTokens {
    pub access: AccessToken,
    pub refresh_token: String,
    pub session_id: String,
    pub user: User,
}

/// Whether a refresh hands out a successor refresh token. `Keep` serves clients (SimpleJWT
/// without rotation) that keep using one refresh token until the session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Rotate,
    Keep,
}

/// A live refresh token's session, for `token/verify`.
pub struct RefreshInfo {
    pub session_id: String,
    pub user_id: i64,
    pub expires_at: i64,
}

impl Core {
    pub(crate) async fn start_session(
        &self,
        user: User,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let now = self.clock.now();
        let session_id = secrets::random_token(16);
        let refresh_token = secrets::random_token(32);
        self.store
            .create_session(&NewSession {
                id: &session_id,
                user_id: user.id,
                refresh_hash: &secrets::digest(&refresh_token),
                now,
                expires_at: now + self.settings.tokens.refresh_ttl.as_secs(),
                ip: ctx.ip.as_deref(),
                user_agent: ctx.user_agent.as_deref().map(|ua| truncate(ua, 512)),
            })
            .await?;
        let access = self.issue_access_token(&user, &session_id)?;
        Ok(IssuedTokens {
            access,
            refresh_token,
            session_id,
            user,
        })
    }

    /// Rotates a refresh token. Exactly one successor exists per token: it is derived from
    /// the token itself, so concurrent or retried requests inside the grace window all get
    /// the same one. Presenting an older token outside the window revokes the session.
    pub async fn refresh(&self, presented: &str, ctx: &RequestContext) -> Result<IssuedTokens> {
        self.renew(presented, Rotation::Rotate, ctx).await
    }

    /// A new access token for the session of `presented`. With `Rotation::Keep` the current
    /// refresh token stays current (and is handed back); an outdated one is still reuse.
    pub async fn renew(
        &self,
        presented: &str,
        rotation: Rotation,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let result = self.renew_unmeasured(presented, rotation, ctx).await;
        let outcome = if result.is_ok() { "success" } else { "failure" };
        crate::metrics::count("castellan_refreshes_total", &[("outcome", outcome)]);
        result
    }

    async fn renew_unmeasured(
        &self,
        presented: &str,
        rotation: Rotation,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let hash = secrets::digest(presented);
        let successor = secrets::hmac_b64(&self.refresh_key, presented.as_bytes());
        let successor_hash = secrets::digest(&successor);
        let now = self.clock.now();
        // The common case, a live current token being rotated, is settled by the store in
        // as few round trips as the backend allows; everything else is decided below.
        let (found, rotated) = match rotation {
            Rotation::Rotate => {
                self.store
                    .find_and_rotate(&hash, &successor_hash, now)
                    .await?
            }
            Rotation::Keep => self
                .store
                .find_by_refresh_hash(&hash)
                .await?
                .map(|found| (found, false)),
        }
        .ok_or(CoreError::TokenInvalid)?;
        let mut session = found.session;
        if rotated {
            return self.reissue(&session, successor).await;
        }
        if session.revoked_at.is_some() || !found.user_active {
            return Err(CoreError::TokenInvalid);
        }
        if session.expires_at <= now {
            return Err(CoreError::TokenExpired);
        }
        if session.current_hash == hash {
            if rotation == Rotation::Keep {
                self.store.touch_session(&session.id, now).await?;
                return self.reissue(&session, presented.to_owned()).await;
            }
            // Another request rotated it first; decide on what it left behind.
            session = self
                .store
                .find_session(&session.id)
                .await?
                .ok_or(CoreError::TokenInvalid)?;
        }
        if self.within_grace(&session, &hash, &successor_hash, now) {
            return self.reissue(&session, successor).await;
        }
        crate::metrics::count("castellan_refresh_reuse_detections_total", &[]);
        self.revoke_sessions(Revoke::One(&session.id), "refresh_reuse")
            .await?;
        self.audit(
            "refresh.reuse_detected",
            Some(session.user_id),
            ctx,
            json!({"session_id": session.id}),
        )
        .await;
        Err(CoreError::TokenInvalid)
    }

    fn within_grace(
        &self,
        s: &SessionRow,
        presented_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> bool {
        let grace = self.settings.tokens.refresh_reuse_grace.as_secs();
        grace > 0
            && s.revoked_at.is_none()
            && s.previous_hash.as_deref() == Some(presented_hash)
            && s.current_hash == successor_hash
            && s.rotated_at.is_some_and(|t| now - t <= grace)
    }

    async fn reissue(&self, session: &SessionRow, refresh_token: String) -> Result<IssuedTokens> {
        let user = self.cached_user(session.user_id).await?;
        let access = self.issue_access_token(&user, &session.id)?;
        Ok(IssuedTokens {
            access,
            refresh_token,
            session_id: session.id.clone(),
            user,
        })
    }

    /// The CSRF token of a session: derived, so any instance can check it without storage.
    pub fn csrf_token(&self, session_id: &str) -> String {
        secrets::hmac_b64(&self.refresh_key, format!("csrf:{session_id}").as_bytes())
    }

    /// The session a refresh token (current or rotated) belongs to, if it is still live.
    pub async fn session_of_refresh(&self, presented: &str) -> Result<String> {
        let found = self
            .store
            .find_by_refresh_hash(&secrets::digest(presented))
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        if found.session.revoked_at.is_some() {
            return Err(CoreError::TokenInvalid);
        }
        Ok(found.session.id)
    }

    /// The session of a refresh token that is current and live.
    pub async fn inspect_refresh(&self, presented: &str) -> Result<RefreshInfo> {
        let hash = secrets::digest(presented);
        let found = self
            .store
            .find_by_refresh_hash(&hash)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let s = found.session;
        let live = s.revoked_at.is_none() && found.user_active && s.expires_at > self.clock.now();
        if !live || s.current_hash != hash {
            return Err(CoreError::TokenInvalid);
        }
        Ok(RefreshInfo {
            session_id: s.id,
            user_id: s.user_id,
            expires_at: s.expires_at,
        })
    }

    /// Ends sessions everywhere: their refresh tokens stop at once, and their access tokens
    /// are refused here at once and on other instances as soon as they hear of it.
    pub async fn revoke_sessions(&self, which: Revoke<'_>, reason: &str) -> Result<usize> {
        let revocation = self.revocation(which, reason);
        let ids = self.store.revoke_sessions(&revocation).await?;
        self.announce(&ids, revocation.keep_until).await;
        Ok(self.revoked_locally(ids, revocation.keep_until))
    }

    /// Tells other instances through Redis, when configured (PostgreSQL has already been
    /// told by the store; the poll is the backstop for both).
    pub(crate) async fn announce(&self, ids: &[String], until: i64) {
        if let (Some(redis), false) = (&self.redis, ids.is_empty()) {
            redis
                .publish(&redis.revocation_channel(), &revocation_payload(ids, until))
                .await;
        }
    }

    pub(crate) fn revocation<'a>(&self, which: Revoke<'a>, reason: &'a str) -> Revocation<'a> {
        let now = self.clock.now();
        let tokens = &self.settings.tokens;
        let keep_until = now + tokens.access_ttl.as_secs() + tokens.leeway.as_secs();
        Revocation {
            which,
            reason,
            now,
            keep_until,
        }
    }

    pub(crate) fn revoked_locally(&self, ids: Vec<String>, until: i64) -> usize {
        let n = ids.len();
        for id in ids {
            self.revocations.insert(id, until);
        }
        n
    }

    /// Logout with the access token the caller presented. A legacy token has no session:
    /// the token itself is revoked until it expires.
    pub async fn logout_bearer(
        &self,
        claims: &AccessClaims,
        all: bool,
        ctx: &RequestContext,
    ) -> Result<()> {
        if is_legacy_sid(&claims.sid) {
            self.revoke_token_sid(claims).await?;
        }
        self.logout(&claims.sid, claims.user_id, all, ctx).await
    }

    /// Revokes the `sid` of a token that has no session row (legacy and client tokens)
    /// until the token expires.
    pub(crate) async fn revoke_token_sid(&self, claims: &AccessClaims) -> Result<()> {
        let now = self.clock.now();
        let until = claims.exp + self.settings.tokens.leeway.as_secs();
        self.store
            .record_revocation(&claims.sid, now, until)
            .await?;
        self.announce(std::slice::from_ref(&claims.sid), until)
            .await;
        self.revocations.insert(claims.sid.clone(), until);
        Ok(())
    }

    /// Logout by session (from an access token) or by refresh token; `all` ends every
    /// session of the user.
    pub async fn logout(
        &self,
        session_id: &str,
        user_id: i64,
        all: bool,
        ctx: &RequestContext,
    ) -> Result<()> {
        let which = if all {
            Revoke::AllOfUser(user_id)
        } else {
            Revoke::One(session_id)
        };
        self.revoke_sessions(which, "logout").await?;
        self.audit("logout", Some(user_id), ctx, json!({"all": all}))
            .await;
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
