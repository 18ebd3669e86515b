//! OAuth 2.0 / OpenID Connect state: clients, one-shot codes, the grant behind each token
//! family, remembered consents and browser sign-in sessions. Lists are space-separated.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub is_public: bool,
    pub first_party: bool,
    pub id_token_alg: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// What redeeming a code found.
pub enum Redemption {
    Fresh(CodeRow),
    /// Redeemed before; the session its tokens belong to, if any were issued.
    Reused(Option<String>),
    Unknown,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub session_id: String,
    pub client_id: String,
    pub scope: String,
    pub auth_time: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BrowserSessionRow {
    pub user_id: i64,
    pub auth_time: i64,
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, redirect_uris, grant_types, scopes, is_public, first_party, id_token_alg, created_at";
const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, auth_time, expires_at";

impl Store {
    pub async fn insert_client(&self, c: &ClientRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let sql = sqlx::AssertSqlSafe(sql);
        on_db!(self.db(), pool => sqlx::query(sql).bind(&c.client_id).bind(&c.secret_hash)
            .bind(&c.redirect_uris).bind(&c.grant_types).bind(&c.scopes).bind(c.is_public)
            .bind(c.first_party).bind(&c.id_token_alg).bind(c.created_at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn find_client(&self, client_id: &str) -> Result<Option<ClientRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"
        ));
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(client_id).fetch_optional(pool).await?),
        )
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY client_id"
        ));
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let sql = "DELETE FROM oauth_clients WHERE client_id = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query(sql).bind(client_id).execute(pool).await?
            .rows_affected())
                > 0,
        )
    }

    pub async fn set_client_secret(&self, client_id: &str, hash: &str) -> Result<bool> {
        let sql =
            "UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1 AND NOT is_public";
        Ok(
            on_db!(self.db(), pool => sqlx::query(sql).bind(client_id).bind(hash)
            .execute(pool).await?.rows_affected())
                > 0,
        )
    }

    pub async fn insert_code(&self, c: &CodeRow) -> Result<()> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ));
        on_db!(self.db(), pool => sqlx::query(sql).bind(&c.code_hash).bind(&c.client_id)
            .bind(c.user_id).bind(&c.redirect_uri).bind(&c.scope).bind(&c.nonce)
            .bind(&c.code_challenge).bind(c.auth_time).bind(c.expires_at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Marks a code used; of concurrent redemptions exactly one gets `Fresh`.
    pub async fn redeem_code(&self, hash: &str, now: i64) -> Result<Redemption> {
        let update = sqlx::AssertSqlSafe(format!(
            "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING {CODE_COLUMNS}"
        ));
        let fresh: Option<CodeRow> = on_db!(self.db(), pool => sqlx::query_as(update)
            .bind(hash).bind(now).fetch_optional(pool).await?);
        if let Some(row) = fresh {
            return Ok(Redemption::Fresh(row));
        }
        let select = "SELECT session_id FROM oauth_codes WHERE code_hash = $1";
        let used: Option<Option<String>> = on_db!(self.db(), pool => sqlx::query_scalar(select)
            .bind(hash).fetch_optional(pool).await?);
        Ok(match used {
            Some(session) => Redemption::Reused(session),
            None => Redemption::Unknown,
        })
    }

    pub async fn set_code_session(&self, hash: &str, session_id: &str) -> Result<()> {
        let sql = "UPDATE oauth_codes SET session_id = $2 WHERE code_hash = $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(hash).bind(session_id)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn insert_grant(&self, g: &GrantRow) -> Result<()> {
        let sql = "INSERT INTO oauth_grants (session_id, client_id, scope, auth_time) VALUES ($1, $2, $3, $4)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(&g.session_id).bind(&g.client_id)
            .bind(&g.scope).bind(g.auth_time).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn find_grant(&self, session_id: &str) -> Result<Option<GrantRow>> {
        let sql = "SELECT session_id, client_id, scope, auth_time FROM oauth_grants WHERE session_id = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(session_id).fetch_optional(pool).await?),
        )
    }

    pub async fn save_consent(
        &self,
        user_id: i64,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO oauth_consents (user_id, client_id, scope, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, created_at = excluded.created_at";
        on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(client_id).bind(scope)
            .bind(now).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn consents(&self, user_id: i64) -> Result<Vec<ConsentRow>> {
        let sql = "SELECT client_id, scope, created_at FROM oauth_consents WHERE user_id = $1 ORDER BY client_id";
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await?))
    }

    pub async fn delete_consent(&self, user_id: i64, client_id: &str) -> Result<bool> {
        let sql = "DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2";
        Ok(
            on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(client_id)
            .execute(pool).await?.rows_affected())
                > 0,
        )
    }

    pub async fn insert_browser_session(
        &self,
        hash: &str,
        user_id: i64,
        auth_time: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO oauth_browser_sessions (id_hash, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(hash).bind(user_id).bind(auth_time)
            .bind(expires_at).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn find_browser_session(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<BrowserSessionRow>> {
        let sql = "SELECT user_id, auth_time FROM oauth_browser_sessions WHERE id_hash = $1 AND expires_at > $2";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(hash).bind(now).fetch_optional(pool).await?),
        )
    }

    pub async fn delete_browser_session(&self, hash: &str) -> Result<()> {
        let sql = "DELETE FROM oauth_browser_sessions WHERE id_hash = $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(hash).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets codes issued before `codes_before` (kept that long after expiry so that a
    /// late replay still revokes) and browser sessions that have ended.
    pub async fn prune_oauth(&self, codes_before: i64, now: i64) -> Result<()> {
        let codes = "DELETE FROM oauth_codes WHERE expires_at < $1";
        let browsers = "DELETE FROM oauth_browser_sessions WHERE expires_at <= $1";
        on_db!(self.db(), pool => {
            sqlx::query(codes).bind(codes_before).execute(pool).await?;
            sqlx::query(browsers).bind(now).execute(pool).await?;
        });
        Ok(())
    }
}
