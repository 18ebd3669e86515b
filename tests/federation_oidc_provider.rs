//! Signing in through a provider this project did not write: npm's `oidc-provider` (panva,
//! OpenID Certified), installed from the committed lockfile and started on loopback. The
//! test drives its login and consent pages like a browser. Without Node.js the test is
//! skipped, except under CI=true, where it fails.

mod common;

use std::{collections::HashMap, process::Stdio, time::Duration};

use common::{TestServer, smtp::free_port};
use reqwest::{StatusCode, redirect::Policy};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const APP: &str = "https://app.example.com/done";

/// The provider's directory, installed if need be; `None` (skip) only outside CI.
fn installed() -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/oidc-provider.sh");
    let out = std::process::Command::new("bash").arg(script).output();
    let why = match out {
        Ok(o) if o.status.success() => {
            return Some(String::from_utf8_lossy(&o.stdout).trim().to_owned());
        }
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "oidc-provider is required under CI: {why}"
    );
    eprintln!("skipping the oidc-provider test: {why}");
    None
}

async fn start_provider(dir: &str, port: u16, redirect_uri: &str) -> Child {
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", "castellan")
        .env("CLIENT_SECRET", "a-long-upstream-client-secret")
        .env("REDIRECT_URI", redirect_uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("ready") {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .unwrap_or(false),
        "oidc-provider did not start"
    );
    // Keep reading: the provider logs to stdout and dies of EPIPE when nobody listens.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// A browser for the provider's own pages: keeps its cookies, follows nothing by itself.
struct UpstreamBrowser {
    http: reqwest::Client,
    base: String,
    jar: HashMap<String, String>,
}

impl UpstreamBrowser {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (StatusCode, Option<String>, String) {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let resp = req
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        for value in resp.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = resp.status();
        let location = resp.headers().get("location").map(|l| {
            let l = l.to_str().unwrap();
            if l.starts_with('/') {
                format!("{}{l}", self.base)
            } else {
                l.to_owned()
            }
        });
        (status, location, resp.text().await.unwrap())
    }

    /// From the authorization URL through login and consent, to the redirect that leaves
    /// the provider.
    async fn sign_in(&mut self, mut url: String, login: &str) -> String {
        for _ in 0..12 {
            if !url.starts_with(&self.base) {
                return url;
            }
            let (status, location, body) = self.send(self.http.get(&url)).await;
            if let Some(next) = location {
                url = next;
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            let action = body
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("a form on the provider's page")
                .to_owned();
            let form: Vec<(&str, &str)> = if body.contains("name=\"login\"") {
                vec![
                    ("prompt", "login"),
                    ("login", login),
                    ("password", "any password"),
                ]
            } else {
                vec![("prompt", "consent")] // the consent page: "Continue"
            };
            let target = match action.starts_with('/') {
                true => format!("{}{action}", self.base),
                false => action,
            };
            let (_, location, body) = self.send(self.http.post(&target).form(&form)).await;
            url = location.unwrap_or_else(|| panic!("the form did not redirect: {body}"));
        }
        panic!("the provider never sent the browser back")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_sign_in_through_npm_oidc_provider() {
    let Some(dir) = installed() else { return };
    let provider_port = free_port();
    let castellan_port = free_port();
    let castellan_base = format!("http://127.0.0.1:{castellan_port}");
    let callback = format!("{castellan_base}/auth/federation/panva/callback");
    let _provider = start_provider(&dir, provider_port, &callback).await;
    let issuer = format!("http://127.0.0.1:{provider_port}");

    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[federation]\nredirect_allow_list = [\"{APP}\"]\n\n[[federation.providers]]\n\
             id = \"panva\"\ndisplay_name = \"oidc-provider\"\nissuer = \"{issuer}\"\n\
             client_id = \"castellan\"\nclient_secret = \"a-long-upstream-client-secret\"\n\
             link_verified_email = true\n"
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&[
        (
            "CASTELLAN_SERVER__BIND",
            &format!("127.0.0.1:{castellan_port}"),
        ),
        ("CASTELLAN_SERVER__PUBLIC_URL", &castellan_base),
        ("CASTELLAN_CONFIG", config.path().to_str().unwrap()),
    ])
    .await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let mut upstream = UpstreamBrowser {
        http: http.clone(),
        base: issuer.clone(),
        jar: HashMap::new(),
    };

    let start = http
        .get(server.url("/auth/federation/panva/start"))
        .query(&[("redirect", APP)])
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&issuer), "{authorize}");
    let back = upstream.sign_in(authorize, "grace").await;
    assert!(back.starts_with(&callback), "{back}");
    let landed = http.get(&back).send().await.unwrap();
    let to_app = landed.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_app.starts_with(&format!("{APP}?code=")), "{to_app}");
    let tokens = server.federation_exchange(&to_app).await;
    let me = server.me_with(&tokens).await;
    assert_eq!(me["username"], "grace");
    assert_eq!(me["email"], "grace@example.net");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["last_name"], "Hopper");

    // A second sign-in (the provider remembers the browser) finds the same user.
    let again = http
        .get(server.url("/auth/federation/panva/start"))
        .query(&[("redirect", APP)])
        .send()
        .await
        .unwrap();
    let back = upstream
        .sign_in(
            again.headers()["location"].to_str().unwrap().to_owned(),
            "grace",
        )
        .await;
    let landed = http.get(&back).send().await.unwrap();
    let to_app = landed.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_app.contains("code="), "{to_app}");
    assert_eq!(server.query_i64("SELECT COUNT(*) FROM users").await, 1);
}
