//! A small upstream identity provider for federation tests, served on 127.0.0.1:0: an
//! OpenID Connect provider (discovery, authorize, token, JWKS, UserInfo, Ed25519-signed ID
//! tokens) or, with `Flavor::PlainOAuth`, a GitHub-like OAuth 2.0 server without discovery.
//! Its authorize endpoint consents at once; `Upstream::set` changes what it answers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "castellan-app";
pub const CLIENT_SECRET: &str = "upstream-secret";

/// The two upstream signing keys (kid, private PEM, public `x`).
const KEYS: [(&str, &str, &str); 2] = [
    (
        "up-1",
        include_str!("../fixtures/upstream-ed25519-1.pem"),
        "m-6IrCHEBnajpe_h3S-BlE9vswkdeqPAkSgDBce-tVI",
    ),
    (
        "up-2",
        include_str!("../fixtures/upstream-ed25519-2.pem"),
        "3MFPPnubk72j7Nzg3AIuLt11iaioYBo1teUUJ9OZrLU",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Oidc,
    PlainOAuth,
}

/// How the next ID token is spoiled, if at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdToken {
    Good,
    Tampered,
    Expired,
    WrongAudience,
    WrongNonce,
    WrongIssuer,
    Unsigned,
}

pub struct Behaviour {
    /// Claims about the signed-in upstream user.
    pub user: Value,
    pub id_token: IdToken,
    /// Index into `KEYS` that signs (and the JWKS publishes, with the other when `both`).
    pub key: usize,
    pub publish_both_keys: bool,
    /// The authorize endpoint answers `error=access_denied`.
    pub deny: bool,
    /// The token endpoint answers 503.
    pub token_down: bool,
}

struct Pending {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
}

struct Inner {
    base: String,
    flavor: Flavor,
    behaviour: Behaviour,
    codes: HashMap<String, Pending>,
    /// Parameters of every authorization request, for assertions.
    pub authorize_requests: Vec<HashMap<String, String>>,
    token_requests: usize,
}

#[derive(Clone)]
pub struct Upstream(Arc<Mutex<Inner>>);

impl Upstream {
    pub async fn start(flavor: Flavor) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let upstream = Upstream(Arc::new(Mutex::new(Inner {
            base,
            flavor,
            behaviour: Behaviour {
                user: json!({
                    "sub": "upstream-user-1",
                    "email": "ada@example.org",
                    "email_verified": true,
                    "preferred_username": "ada",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "groups": ["engineering"],
                }),
                id_token: IdToken::Good,
                key: 0,
                publish_both_keys: false,
                deny: false,
                token_down: false,
            },
            codes: HashMap::new(),
            authorize_requests: Vec::new(),
            token_requests: 0,
        })));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .route("/user", get(userinfo))
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        upstream
    }

    pub fn base(&self) -> String {
        self.0.lock().unwrap().base.clone()
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.0.lock().unwrap().behaviour);
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.0
            .lock()
            .unwrap()
            .authorize_requests
            .last()
            .cloned()
            .unwrap()
    }

    pub fn token_requests(&self) -> usize {
        self.0.lock().unwrap().token_requests
    }

    /// The `[[federation.providers]]` entry for this upstream, as TOML.
    pub fn provider_toml(&self, id: &str, extra: &str) -> String {
        let base = self.base();
        let inner = self.0.lock().unwrap();
        let endpoints = match inner.flavor {
            Flavor::Oidc => format!("issuer = \"{base}\""),
            Flavor::PlainOAuth => format!(
                "authorization_url = \"{base}/authorize\"\ntoken_url = \"{base}/token\"\n\
                 userinfo_url = \"{base}/user\"\nscopes = [\"read:user\", \"user:email\"]\n\
                 [federation.providers.claims]\nsubject = \"id\"\nusername = \"login\"\n\
                 email = \"email\"\nemail_verified = \"email_verified\"\n"
            ),
        };
        format!(
            "[[federation.providers]]\nid = \"{id}\"\ndisplay_name = \"Upstream {id}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{extra}\n{endpoints}\n"
        )
    }
}

async fn discovery(State(up): State<Upstream>) -> Response {
    let base = up.base();
    if up.0.lock().unwrap().flavor == Flavor::PlainOAuth {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }))
    .into_response()
}

async fn authorize(
    State(up): State<Upstream>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = up.0.lock().unwrap();
    inner.authorize_requests.push(q.clone());
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let encode = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap();
    if inner.behaviour.deny {
        let query = encode(&[("error", "access_denied"), ("state", &state)]);
        return Redirect::to(&format!("{redirect_uri}?{query}")).into_response();
    }
    let code = castellan::core::secrets::random_token(16);
    inner.codes.insert(
        code.clone(),
        Pending {
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            nonce: q.get("nonce").cloned(),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let query = encode(&[("code", &code), ("state", &state)]);
    Redirect::to(&format!("{redirect_uri}?{query}")).into_response()
}

async fn token(
    State(up): State<Upstream>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = up.0.lock().unwrap();
    inner.token_requests += 1;
    if inner.behaviour.token_down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(pending) = inner.codes.remove(&code) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    if challenge != pending.challenge
        || form.get("redirect_uri") != Some(&pending.redirect_uri)
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let mut answer =
        json!({"access_token": "upstream-access", "token_type": "Bearer", "expires_in": 300});
    if inner.flavor == Flavor::Oidc {
        answer["id_token"] = json!(id_token(&inner, pending.nonce.as_deref()));
    }
    Json(answer).into_response()
}

fn id_token(inner: &Inner, nonce: Option<&str>) -> String {
    let b = &inner.behaviour;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = json!({
        "iss": inner.base,
        "aud": CLIENT_ID,
        "sub": b.user["sub"],
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": b.user["email"],
        "email_verified": b.user["email_verified"],
    });
    match b.id_token {
        IdToken::Expired => {
            claims["iat"] = json!(now - 3600);
            claims["exp"] = json!(now - 1800);
        }
        IdToken::WrongAudience => claims["aud"] = json!("someone-else"),
        IdToken::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        IdToken::WrongIssuer => claims["iss"] = json!("http://evil.example"),
        _ => {}
    }
    let (kid, pem, _) = KEYS[b.key];
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    match b.id_token {
        IdToken::Tampered => {
            // Same signature, other claims: the payload now names another subject.
            let parts: Vec<&str> = token.split('.').collect();
            let mut forged = claims.clone();
            forged["sub"] = json!("someone-else");
            let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
            format!("{}.{}.{}", parts[0], payload, parts[2])
        }
        IdToken::Unsigned => {
            let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{head}.{payload}.")
        }
        _ => token,
    }
}

async fn jwks(State(up): State<Upstream>) -> Json<Value> {
    let inner = up.0.lock().unwrap();
    let b = &inner.behaviour;
    let keys: Vec<Value> = KEYS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == b.key || b.publish_both_keys)
        .map(|(_, (kid, _, x))| json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x}))
        .collect();
    Json(json!({"keys": keys}))
}

async fn userinfo(State(up): State<Upstream>, headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer upstream-access")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let inner = up.0.lock().unwrap();
    let user = &inner.behaviour.user;
    match inner.flavor {
        Flavor::Oidc => Json(user.clone()).into_response(),
        // GitHub's shape: a numeric id and a login.
        Flavor::PlainOAuth => Json(json!({
            "id": 4242,
            "login": user["preferred_username"],
            "name": "Ada Lovelace",
            "email": user["email"],
            "email_verified": user["email_verified"],
        }))
        .into_response(),
    }
}

/// The federation endpoints, as an app calls them.
impl super::TestServer {
    /// Redeems the one-time code in `app_url`, where a federated login sent the browser.
    pub async fn federation_exchange(&self, app_url: &str) -> super::Reply {
        let query = app_url.split_once('?').map_or("", |(_, q)| q);
        let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
        let code = params.get("code").expect("a code in the app URL");
        self.post("/auth/federation/exchange", json!({"code": code}))
            .await
    }

    /// `GET /auth/me` with the access token of a token-pair answer.
    pub async fn me_with(&self, tokens: &super::Reply) -> Value {
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
        let me = self
            .get("/auth/me", Some(&tokens.str("access_token")))
            .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        me.body
    }

    /// Unlinks the caller's first linked identity.
    pub async fn unlink_first_identity(&self, access: &str) -> super::Reply {
        let ids = self.get("/auth/identities", Some(access)).await;
        let id = ids.body[0]["id"].as_i64().expect("a linked identity");
        self.call(
            reqwest::Method::DELETE,
            &format!("/auth/identities/{id}"),
            Some(access),
            None,
        )
        .await
    }
}
