//! Talking to upstream identity providers as a relying party: discovery, the code exchange,
//! ID-token validation against the upstream's keys, and UserInfo.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Map, Value};

use crate::config::FederationProvider;

/// Largest upstream answer read (discovery, JWKS, token, UserInfo).
const MAX_BODY: usize = 256 * 1024;
/// A JWKS is fetched again for an unknown `kid` at most this often (key rotation upstream).
const JWKS_REFETCH: Duration = Duration::from_secs(10);
/// Signature algorithms accepted on upstream ID tokens; never `none` or an HMAC.
const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an upstream step failed; each is shown to the user as its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The upstream could not be reached or answered nonsense.
    Unavailable(String),
    /// The upstream refused (for example the user denied consent).
    Refused(String),
    /// The ID token failed validation.
    InvalidIdToken(String),
    /// The `state` is unknown, spent or expired.
    InvalidState,
    /// The upstream account cannot be used here (no subject, email taken, sign-up off, …).
    Account(&'static str, String),
}

impl UpstreamFailure {
    /// The machine-readable code, also used as `error=` when redirecting to the app.
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamFailure::Unavailable(_) => "upstream_unavailable",
            UpstreamFailure::Refused(_) => "access_denied",
            UpstreamFailure::InvalidIdToken(_) => "invalid_id_token",
            UpstreamFailure::InvalidState => "invalid_state",
            UpstreamFailure::Account(code, _) => code,
        }
    }

    /// The code in the API's error shape.
    pub fn api_code(&self) -> &'static str {
        match self {
            UpstreamFailure::Unavailable(_) => "UPSTREAM_UNAVAILABLE",
            UpstreamFailure::Refused(_) => "UPSTREAM_REFUSED",
            UpstreamFailure::InvalidIdToken(_) => "INVALID_ID_TOKEN",
            UpstreamFailure::InvalidState => "FEDERATION_STATE_INVALID",
            UpstreamFailure::Account(..) => "FEDERATED_ACCOUNT_REFUSED",
        }
    }

    pub fn message(&self) -> String {
        match self {
            UpstreamFailure::Unavailable(m) => format!("the identity provider is unavailable: {m}"),
            UpstreamFailure::Refused(m) => format!("the identity provider refused: {m}"),
            UpstreamFailure::InvalidIdToken(m) => format!("the ID token is invalid: {m}"),
            UpstreamFailure::InvalidState => {
                "the sign-in is unknown, already used or expired; start again".into()
            }
            UpstreamFailure::Account(_, m) => m.clone(),
        }
    }
}

type Outcome<T> = std::result::Result<T, UpstreamFailure>;

/// Where a provider's endpoints are, from discovery or configuration.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub authorization: String,
    pub token: String,
    pub userinfo: Option<String>,
    jwks: Option<String>,
}

struct CachedKeys {
    fetched: Instant,
    keys: Arc<JwkSet>,
}

/// The HTTP client and caches shared by every federated login.
pub struct Upstreams {
    http: reqwest::Client,
    endpoints: Mutex<HashMap<String, Arc<Endpoints>>>,
    keys: Mutex<HashMap<String, CachedKeys>>,
}

impl Default for Upstreams {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("castellan")
            .build()
            .unwrap_or_default();
        Self {
            http,
            endpoints: Mutex::default(),
            keys: Mutex::default(),
        }
    }
}

/// What the code exchange gave back.
pub struct UpstreamTokens {
    pub access_token: String,
    pub id_token: Option<String>,
}

impl Upstreams {
    /// The provider's endpoints: configured ones win over discovered ones. Discovery
    /// succeeds once per process and is cached.
    pub async fn endpoints(&self, p: &FederationProvider) -> Outcome<Arc<Endpoints>> {
        if let Some(found) = self.lock_endpoints().get(&p.id) {
            return Ok(found.clone());
        }
        let mut found = Endpoints {
            issuer: p.issuer.clone(),
            authorization: p.authorization_url.clone().unwrap_or_default(),
            token: p.token_url.clone().unwrap_or_default(),
            userinfo: p.userinfo_url.clone(),
            jwks: None,
        };
        if let Some(issuer) = &p.issuer {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let doc = self.get_json(&url, None).await?;
            if doc.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(UpstreamFailure::Unavailable(
                    "the discovery document names another issuer".into(),
                ));
            }
            let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
            if found.authorization.is_empty() {
                found.authorization = text("authorization_endpoint").unwrap_or_default();
            }
            if found.token.is_empty() {
                found.token = text("token_endpoint").unwrap_or_default();
            }
            found.userinfo = found.userinfo.or_else(|| text("userinfo_endpoint"));
            found.jwks = text("jwks_uri");
            if found.authorization.is_empty() || found.token.is_empty() || found.jwks.is_none() {
                return Err(UpstreamFailure::Unavailable(
                    "the discovery document lacks an endpoint".into(),
                ));
            }
        }
        let found = Arc::new(found);
        self.lock_endpoints().insert(p.id.clone(), found.clone());
        Ok(found)
    }

    /// Redeems the authorization code (with the PKCE verifier).
    pub async fn exchange_code(
        &self,
        p: &FederationProvider,
        endpoints: &Endpoints,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Outcome<UpstreamTokens> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let request = self
            .http
            .post(&endpoints.token)
            .header("accept", "application/json")
            .basic_auth(
                form_encode(&p.client_id),
                Some(form_encode(&p.client_secret)),
            )
            .form(&form);
        let (status, body) = self.send(request).await?;
        if let Some(error) = body.get("error").and_then(Value::as_str) {
            return Err(UpstreamFailure::Refused(format!("token endpoint: {error}")));
        }
        if !status.is_success() {
            return Err(UpstreamFailure::Unavailable(format!(
                "token endpoint answered {status}"
            )));
        }
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| UpstreamFailure::Unavailable("no access_token".into()))?
            .to_owned();
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(UpstreamTokens {
            access_token,
            id_token,
        })
    }

    /// Validates an upstream ID token: signature against the upstream's JWKS (fetched again
    /// once for an unknown `kid`), `iss`, `aud` (and `azp` with several audiences), `exp`,
    /// `iat` and `nonce`. Yields its claims.
    pub async fn validate_id_token(
        &self,
        p: &FederationProvider,
        endpoints: &Endpoints,
        token: &str,
        nonce: &str,
        leeway: u64,
    ) -> Outcome<Map<String, Value>> {
        let invalid = |m: &str| UpstreamFailure::InvalidIdToken(m.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid("the signature algorithm is not accepted"));
        }
        let key = self
            .signing_key(p, endpoints, header.kid.as_deref())
            .await?;
        let key = DecodingKey::from_jwk(&key).map_err(|_| invalid("unusable upstream key"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = leeway;
        validation.set_audience(&[&p.client_id]);
        if let Some(issuer) = &endpoints.issuer {
            validation.set_issuer(&[issuer]);
        }
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| invalid(&format!("{:?}", e.kind())))?
            .claims;
        if let Some(Value::Array(audiences)) = claims.get("aud")
            && audiences.len() > 1
            && claims.get("azp").and_then(Value::as_str) != Some(p.client_id.as_str())
        {
            return Err(invalid("azp does not name this client"));
        }
        let presented = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !crate::core::secrets::same(presented.as_bytes(), nonce.as_bytes()) {
            return Err(invalid("nonce mismatch"));
        }
        Ok(claims)
    }

    /// The JWK for `kid` (or the only key when the token names none).
    async fn signing_key(
        &self,
        p: &FederationProvider,
        endpoints: &Endpoints,
        kid: Option<&str>,
    ) -> Outcome<jsonwebtoken::jwk::Jwk> {
        let jwks_url = endpoints
            .jwks
            .as_deref()
            .ok_or_else(|| UpstreamFailure::InvalidIdToken("the provider has no JWKS".into()))?;
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let cached = self
            .lock_keys()
            .get(&p.id)
            .map(|c| (c.fetched, c.keys.clone()));
        if let Some((fetched, keys)) = &cached {
            if let Some(key) = pick(keys) {
                return Ok(key);
            }
            if fetched.elapsed() < JWKS_REFETCH {
                return Err(UpstreamFailure::InvalidIdToken(
                    "unknown signing key".into(),
                ));
            }
        }
        let body = self.get_json(jwks_url, None).await?;
        let keys: JwkSet = serde_json::from_value(body)
            .map_err(|_| UpstreamFailure::Unavailable("the JWKS is malformed".into()))?;
        let keys = Arc::new(keys);
        let key = pick(&keys);
        self.lock_keys().insert(
            p.id.clone(),
            CachedKeys {
                fetched: Instant::now(),
                keys,
            },
        );
        key.ok_or_else(|| UpstreamFailure::InvalidIdToken("unknown signing key".into()))
    }

    /// A JSON document fetched with an optional bearer token (UserInfo, emails).
    pub async fn get_json(&self, url: &str, bearer: Option<&str>) -> Outcome<Value> {
        let mut request = self.http.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let (status, body) = self.send(request).await?;
        if !status.is_success() {
            return Err(UpstreamFailure::Unavailable(format!(
                "{url} answered {status}"
            )));
        }
        Ok(body)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Outcome<(reqwest::StatusCode, Value)> {
        let unavailable =
            |e: reqwest::Error| UpstreamFailure::Unavailable(e.without_url().to_string());
        let mut response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamFailure::Unavailable(
                    "the answer is too large".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if json.is_null() && status.is_success() {
            return Err(UpstreamFailure::Unavailable(
                "the answer is not JSON".into(),
            ));
        }
        Ok((status, json))
    }

    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Endpoints>>> {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedKeys>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded before HTTP Basic.
fn form_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|encoded| encoded[1..].to_owned())
        .unwrap_or_default()
}
