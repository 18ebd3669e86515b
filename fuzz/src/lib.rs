//! Castellan in-process for the fuzz targets: the real core and router on a temporary SQLite
//! database, with one user, her tokens and two OAuth clients, driven without a socket. What
//! a target feeds it goes through exactly the code a request to `castellan serve` does.

use std::{net::SocketAddr, sync::OnceLock};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{Request, StatusCode, header},
};
use castellan::{
    app,
    config::{Duration, Settings},
    core::{Actor, NewClient, RequestContext},
    http::{AppState, router},
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const USERNAME: &str = "fuzz_user";
pub const PASSWORD: &str = "correct-horse-battery";
/// A confidential client for the authorization code, refresh and client credentials grants.
pub const CLIENT_ID: &str = "fuzz-web";
/// A public client (PKCE, no secret).
pub const PUBLIC_CLIENT_ID: &str = "fuzz-spa";
pub const REDIRECT_URI: &str = "https://client.example/callback";

pub struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    pub app: AppState,
    /// An access token and a refresh token issued to the user at start-up.
    pub access_token: String,
    pub refresh_token: String,
    pub client_secret: String,
    _dir: tempfile::TempDir,
}

/// An answer: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// Panics (a crash for the fuzzer) on a server error: a 500 is what the server makes of
    /// a panic in a handler, and no input may cause one.
    pub fn assert_no_server_error(&self, what: &str) {
        assert!(
            !self.status.is_server_error(),
            "{what} answered {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
    }
}

impl Harness {
    /// The one instance of this fuzzing process, set up on first use.
    pub fn get() -> &'static Harness {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(Harness::start)
    }

    fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings::default();
        settings.database.url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        // Cheap hashing so a login costs microseconds, not the production 20 ms.
        settings.passwords.memory_kib = 64;
        settings.passwords.iterations = 1;
        // The per-address request limits would answer most inputs 429 after a second.
        settings.limits.requests = 0;
        settings.limits.ops_requests = 0;
        // Exercise the replaced service's token path too; nothing is ever signed with it.
        settings.tokens.legacy_hs256_secret = Some("fuzzing-legacy-secret-never-used".into());
        settings.tokens.access_ttl = Duration::secs(86400 * 365);
        settings.api.simplejwt.extras = true;
        settings.validate().expect("fuzzing settings");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = runtime
            .block_on(async { AppState::new(app::build_core(settings).await.expect("core")) });
        let router = router(app.clone()).expect("router");
        let mut harness = Harness {
            runtime,
            router,
            app,
            access_token: String::new(),
            refresh_token: String::new(),
            client_secret: String::new(),
            _dir: dir,
        };
        harness.seed();
        harness
    }

    /// The user, her tokens, and the clients.
    fn seed(&mut self) {
        let user = json!({"username": USERNAME, "email": "fuzz@example.com", "password": PASSWORD});
        let registered = self.send(json_post("/auth/register", &user));
        assert_eq!(registered.status, StatusCode::CREATED, "register");
        let login = json!({"username": USERNAME, "password": PASSWORD});
        let tokens = self.send(json_post("/auth/token", &login));
        assert_eq!(tokens.status, StatusCode::OK, "login");
        let tokens: Value = serde_json::from_slice(&tokens.body).expect("token pair");
        self.access_token = tokens["access_token"].as_str().expect("access").into();
        self.refresh_token = tokens["refresh_token"].as_str().expect("refresh").into();

        let web = NewClient {
            client_id: CLIENT_ID.into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            ..NewClient::default()
        };
        let spa = NewClient {
            client_id: PUBLIC_CLIENT_ID.into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            public: true,
            ..NewClient::default()
        };
        let app = self.app.clone();
        let secret = self.runtime.block_on(async {
            let ctx = RequestContext::default();
            let (_, secret) = app
                .add_client(&Actor::operator(), web, &ctx)
                .await
                .expect("confidential client");
            app.add_client(&Actor::operator(), spa, &ctx)
                .await
                .expect("public client");
            secret.expect("a confidential client's secret")
        });
        self.client_secret = secret;
    }

    /// Runs a future of the core (e.g. a verification) to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Sends one request through the whole router, middleware included, as from a loopback
    /// peer.
    pub fn send(&self, mut request: Request<Body>) -> Answer {
        let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
        request.extensions_mut().insert(ConnectInfo(peer));
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("response body");
            Answer { status, body }
        })
    }
}

pub fn json_post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// Picks one of `items` by a byte of the input.
pub fn pick<T: Copy>(items: &[T], byte: u8) -> T {
    items[usize::from(byte) % items.len()]
}
