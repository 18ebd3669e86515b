//! OAuth clients: registration with hashed secrets, listing, removal, secret rotation, and
//! client authentication at the token, introspection and revocation endpoints.

use serde::Serialize;
use serde_json::json;

use super::{Actor, Core, CoreError, RequestContext, Result, secrets};
use crate::{
    config::Algorithm,
    domain::FieldErrors,
    store::{ClientRow, StoreError},
};

pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const STANDARD_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A client as registered, without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OAuthClient {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub id_token_signed_response_alg: String,
    #[serde(skip)]
    secret_hash: Option<String>,
}

impl OAuthClient {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub fn allows_scopes(&self, scope: &str) -> bool {
        scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| self.scopes.iter().any(|a| a == s))
    }

    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn id_token_alg(&self) -> Algorithm {
        match self.id_token_signed_response_alg.as_str() {
            "EdDSA" => Algorithm::EdDSA,
            "ES256" => Algorithm::ES256,
            _ => Algorithm::RS256,
        }
    }
}

impl From<ClientRow> for OAuthClient {
    fn from(r: ClientRow) -> Self {
        let list = |s: &str| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        Self {
            redirect_uris: list(&r.redirect_uris),
            grant_types: list(&r.grant_types),
            scopes: list(&r.scopes),
            client_id: r.client_id,
            public: r.is_public,
            first_party: r.first_party,
            id_token_signed_response_alg: r.id_token_alg,
            secret_hash: r.secret_hash,
        }
    }
}

/// What registering a client asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
}

/// Credentials a client presented (HTTP Basic or form fields).
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
}

impl NewClient {
    fn check(&mut self) -> std::result::Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        let id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 100
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            errors.add("client_id", "Use 1-100 letters, digits, '-', '_' or '.'.");
        }
        if self.grant_types.is_empty() {
            self.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            errors.add("grant_types", format!("Unsupported grant type `{g}`."));
        }
        if self.public && self.grant_types.iter().any(|g| g == "client_credentials") {
            errors.add(
                "grant_types",
                "A public client cannot use client_credentials.",
            );
        }
        let needs_redirect = self.grant_types.iter().any(|g| g == "authorization_code");
        if needs_redirect && self.redirect_uris.is_empty() {
            errors.add("redirect_uris", "At least one redirect URI is required.");
        }
        if self.redirect_uris.iter().any(|u| !valid_redirect_uri(u)) {
            errors.add(
                "redirect_uris",
                "Each redirect URI must be an absolute http(s) URI without a fragment.",
            );
        }
        if self.scopes.is_empty() {
            self.scopes = STANDARD_SCOPES.map(String::from).to_vec();
        }
        if self.scopes.iter().any(|s| {
            s.is_empty()
                || s.len() > 100
                || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
        }) {
            errors.add(
                "scopes",
                "Scopes are non-empty tokens without spaces or quotes.",
            );
        }
        if let Some(alg) = &self.id_token_alg
            && !["RS256", "EdDSA", "ES256"].contains(&alg.as_str())
        {
            errors.add("id_token_alg", "Use RS256, EdDSA or ES256.");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn valid_redirect_uri(uri: &str) -> bool {
    (uri.starts_with("https://") || uri.starts_with("http://"))
        && !uri.contains('#')
        && !uri.contains(char::is_whitespace)
        && uri.len() <= 2000
}

impl Core {
    /// Registers a client; answers it and its secret (none for a public client), which is
    /// stored only as a digest.
    pub async fn add_client(
        &self,
        actor: &Actor,
        mut new: NewClient,
        ctx: &RequestContext,
    ) -> Result<(OAuthClient, Option<String>)> {
        new.check().map_err(CoreError::Validation)?;
        let secret = (!new.public).then(|| secrets::random_token(32));
        let alg = new.id_token_alg.clone().unwrap_or_else(|| "RS256".into());
        let row = ClientRow {
            client_id: new.client_id.clone(),
            secret_hash: secret.as_deref().map(secrets::digest),
            redirect_uris: new.redirect_uris.join(" "),
            grant_types: new.grant_types.join(" "),
            scopes: new.scopes.join(" "),
            is_public: new.public,
            first_party: new.first_party,
            id_token_alg: alg,
            created_at: self.clock.now(),
        };
        self.store.insert_client(&row).await.map_err(|e| match e {
            StoreError::Conflict(_) => CoreError::Conflict {
                code: "CLIENT_EXISTS",
                message: "A client with this client_id exists",
            },
            other => other.into(),
        })?;
        let client = OAuthClient::from(row);
        // ID tokens must be verifiable as soon as a client can ask for one.
        let now = self.clock.now();
        self.keys.ensure(&self.store, Algorithm::RS256, now).await?;
        self.keys
            .ensure(&self.store, client.id_token_alg(), now)
            .await?;
        self.audit_by(
            "client.created",
            Some(actor),
            None,
            ctx,
            json!({"client_id": client.client_id}),
        )
        .await;
        Ok((client, secret))
    }

    pub async fn clients(&self) -> Result<Vec<OAuthClient>> {
        Ok(self
            .store
            .list_clients()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn client(&self, client_id: &str) -> Result<OAuthClient> {
        self.store
            .find_client(client_id)
            .await?
            .map(Into::into)
            .ok_or(CoreError::NotFound)
    }

    pub async fn remove_client(
        &self,
        actor: &Actor,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        if !self.store.delete_client(client_id).await? {
            return Err(CoreError::NotFound);
        }
        self.audit_by(
            "client.deleted",
            Some(actor),
            None,
            ctx,
            json!({"client_id": client_id}),
        )
        .await;
        Ok(())
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<String> {
        let secret = secrets::random_token(32);
        if !self
            .store
            .set_client_secret(client_id, &secrets::digest(&secret))
            .await?
        {
            return Err(CoreError::NotFound);
        }
        self.audit_by(
            "client.secret_rotated",
            Some(actor),
            None,
            ctx,
            json!({"client_id": client_id}),
        )
        .await;
        Ok(secret)
    }

    /// The client these credentials prove. A public client proves nothing but its id and
    /// is accepted only where `public_ok`.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        public_ok: bool,
    ) -> Result<OAuthClient> {
        let client: Option<OAuthClient> = self
            .store
            .find_client(&creds.client_id)
            .await?
            .map(Into::into);
        let Some(client) = client else {
            return Err(CoreError::InvalidCredentials);
        };
        match (&client.secret_hash, &creds.secret) {
            (Some(hash), Some(secret))
                if secrets::same(hash.as_bytes(), secrets::digest(secret).as_bytes()) =>
            {
                Ok(client)
            }
            (None, None) if client.public && public_ok => Ok(client),
            _ => Err(CoreError::InvalidCredentials),
        }
    }
}
