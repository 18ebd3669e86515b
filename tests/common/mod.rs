//! Black-box harness: each test spawns the real `castellan serve` on 127.0.0.1:0 with a
//! database of its own, talks HTTP to it, and drops the database afterwards.
//! `CASTELLAN_TEST_BACKEND=sqlite|postgres` picks the backend (default sqlite);
//! `CASTELLAN_TEST_PG` is the PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/postgres).
#![allow(dead_code)]

pub mod accounts;
pub mod browser;
pub mod proxy;
pub mod python;
pub mod smtp;
pub mod upstream;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("CASTELLAN_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("unknown CASTELLAN_TEST_BACKEND {other}"),
    }
}

fn pg_admin_url() -> String {
    std::env::var("CASTELLAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for one test; removed on drop.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new() -> Self {
        match backend() {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("castellan.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "castellan_test_{}",
                    castellan::core::secrets::random_token(9)
                        .to_lowercase()
                        .replace(['-', '_'], "x")
                );
                let admin = sqlx::PgPool::connect(&pg_admin_url())
                    .await
                    .expect("PostgreSQL is not reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create database");
                admin.close().await;
                let base = pg_admin_url();
                let url = format!(
                    "{}/{name}",
                    base.rsplit_once('/').map(|(b, _)| b).unwrap_or(&base)
                );
                TestDb {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee; use a private one on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    child: Child,
    logs: Arc<Mutex<String>>,
    pub db: Arc<TestDb>,
}

/// Settings every test server gets unless overridden: cheap argon2 and a movable clock.
const TEST_DEFAULTS: &[(&str, &str)] = &[
    ("CASTELLAN_PASSWORDS__MEMORY_KIB", "64"),
    ("CASTELLAN_PASSWORDS__ITERATIONS", "1"),
    ("CASTELLAN_TESTING__CLOCK_CONTROL", "true"),
];

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_on(Arc::new(TestDb::new().await), env).await
    }

    /// Another server on the same database (multi-instance and restart tests).
    pub async fn start_on(db: Arc<TestDb>, env: &[(&str, &str)]) -> Self {
        let url = db.url.clone();
        Self::start_with_url(db, &url, env).await
    }

    /// A server on `db`, reached through `url` (e.g. through a fault-injecting proxy).
    pub async fn start_with_url(db: Arc<TestDb>, url: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_castellan"));
        cmd.arg("serve");
        for (key, _) in std::env::vars() {
            if key.starts_with("CASTELLAN_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CASTELLAN_SERVER__BIND", "127.0.0.1:0")
            .env("CASTELLAN_DATABASE__URL", url)
            .env("CASTELLAN_LOG__LEVEL", "info");
        for (k, v) in TEST_DEFAULTS.iter().chain(env.iter()) {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn castellan");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(stderr).lines();
        let find_addr = async {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    return Some(addr);
                }
            }
            None
        };
        let addr = tokio::time::timeout(Duration::from_secs(60), find_addr)
            .await
            .ok()
            .flatten();
        let Some(addr) = addr else {
            panic!(
                "castellan did not start; its output:\n{}",
                logs.lock().unwrap()
            );
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        TestServer {
            base: format!("http://{addr}"),
            client,
            child,
            logs,
            db,
        }
    }

    /// One integer from the server's database (white-box checks of counters).
    pub async fn query_i64(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.db.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                v
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.db.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                v
            }
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL: no graceful shutdown, no flushing.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends a signal (`KILL`, `TERM`) without waiting; usable while requests are in flight.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{name}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited cleanly.
    pub async fn terminate(&mut self) -> bool {
        self.signal("TERM");
        matches!(tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await, Ok(Ok(s)) if s.success())
    }

    /// Waits (at most a minute) for the process to exit on its own; its exit status.
    pub async fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// Waits until a log line contains `text` (at most a minute); panics otherwise.
    pub async fn wait_for_log(&self, text: &str) {
        for _ in 0..600 {
            if self.logs().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no log line with {text:?} in:\n{}", self.logs());
    }

    /// Sends a request; `body` as JSON when given. Returns status, parsed body and headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.try_call(method, path, bearer, body)
            .await
            .expect("request failed")
    }

    /// Like `call`, but a transport failure (server gone) is `None` rather than a panic.
    pub async fn try_call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Option<Reply> {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Some(Reply::from(req.send().await.ok()?).await)
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call(Method::GET, path, bearer, None).await
    }

    pub async fn register(&self, username: &str) -> Reply {
        let reply = self
            .post(
                "/auth/register",
                json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "register {username}: {}",
            reply.body
        );
        reply
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn login(&self, username: &str) -> (String, String) {
        let reply = self
            .post(
                "/auth/token",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {username}: {}",
            reply.body
        );
        (reply.str("access_token"), reply.str("refresh_token"))
    }

    pub async fn user_with_tokens(&self, username: &str) -> (String, String) {
        self.register(username).await;
        self.login(username).await
    }

    pub async fn advance_clock(&self, secs: i64) {
        let reply = self.post("/__test/clock", json!({"advance": secs})).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string `{key}` in {}", self.body))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the native error shape and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.body["status"], "error", "body: {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.text);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            self.body["error"]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        assert!(
            self.body["error"]["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );
    }
}

impl TestServer {
    /// Logs in with a given password through the native API: (access token, refresh token).
    pub async fn login_with(&self, username: &str, password: &str) -> (String, String) {
        let reply = self
            .post(
                "/auth/token",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {username}: {}",
            reply.body
        );
        (reply.str("access_token"), reply.str("refresh_token"))
    }

    /// Sends an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        Reply::from(
            self.client
                .post(self.url(path))
                .form(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Sends `body` as is with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        Reply::from(req.send().await.expect("request")).await
    }
}

impl Reply {
    /// The JSON keys of the body, in order.
    pub fn keys(&self) -> Vec<String> {
        self.body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// The claims of a JWT, decoded without verification (tests inspect their own tokens).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Runs the `castellan` command line against `db_url`, with `stdin` as its standard input.
pub async fn castellan_cli(
    db_url: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_castellan"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CASTELLAN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CASTELLAN_DATABASE__URL", db_url);
    for (k, v) in TEST_DEFAULTS.iter().chain(env.iter()) {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn castellan");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("castellan did not finish")
        .expect("castellan output")
}
