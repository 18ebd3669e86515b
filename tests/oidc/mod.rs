//! Helpers for the OpenID Connect tests: a provider whose public URL is its real address,
//! clients made through the command line, and a cookie-keeping browser that follows the
//! hosted pages.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use reqwest::{StatusCode, redirect::Policy};
use serde_json::Value;

use crate::common::{PASSWORD, TestServer, castellan_cli};

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A provider whose issuer and endpoint URLs are the address it listens on.
pub async fn provider(extra: &[(&str, &str)]) -> TestServer {
    let port = crate::common::smtp::free_port();
    let bind = format!("127.0.0.1:{port}");
    let url = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("CASTELLAN_SERVER__BIND", bind.as_str()),
        ("CASTELLAN_SERVER__PUBLIC_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    TestServer::start_with(&env).await
}

/// Registers a client through `castellan client add`; answers its JSON.
pub async fn add_client(server: &TestServer, args: &[&str]) -> Value {
    let mut all = vec!["client", "add"];
    all.extend_from_slice(args);
    let out = castellan_cli(&server.db.url, &all, "", &[]).await;
    assert!(
        out.status.success(),
        "client add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("client JSON")
}

/// A confidential first-party client with every grant.
pub async fn web_app(server: &TestServer, id: &str) -> String {
    let c = add_client(
        server,
        &[
            id,
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
            "--scope",
            "offline_access",
            "--scope",
            "api:read",
        ],
    )
    .await;
    c["client_secret"].as_str().expect("secret").to_owned()
}

pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&B64.decode(part).expect("base64")).expect("json")
}

pub fn header(jwt: &str) -> Value {
    let part = jwt.split('.').next().expect("header");
    serde_json::from_slice(&B64.decode(part).expect("base64")).expect("json")
}

/// One query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of the hidden or text input `name` in an HTML page.
pub fn input(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + 7;
    let end = rest[v..].find('"').expect("end");
    unescape(&rest[v..v + end])
}

/// What a page answered.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

/// A browser: keeps cookies, does not follow redirects.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, resp: reqwest::Response) -> Page {
        for value in resp.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page {
            status: resp.status(),
            location: resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path_and_query: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Submits the login form of `page` as `username`.
    pub async fn sign_in(&mut self, page: &Page, username: &str, password: &str) -> Page {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = input(&page.body, "csrf");
        let q = input(&page.body, "q");
        self.post(
            "/oauth/login",
            &[
                ("csrf", &csrf),
                ("q", &q),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// The authorize path for `client` with PKCE S256, `state` and `nonce`.
pub fn authorize_path(client: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(p, _)| p != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    )
}

/// Signs `username` in through the hosted page and answers the code.
pub async fn code_for(browser: &mut Browser, client: &str, username: &str) -> String {
    let page = browser.get(&authorize_path(client, &[])).await;
    // Signed in already (single sign-on): the provider answers at once.
    let done = if page.status == StatusCode::SEE_OTHER {
        page
    } else {
        browser.sign_in(&page, username, PASSWORD).await
    };
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let location = done.location.expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    param(&location, "code").expect("code")
}

/// Redeems a code with client_secret_post.
pub async fn redeem(
    server: &TestServer,
    client: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> crate::common::Reply {
    server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", client),
                ("client_secret", secret),
            ],
        )
        .await
}
