//! Helpers for the account features: API-key requests, the server clock, and users made
//! through the command line (the only way to make the first superuser).

use std::{
    io::Write,
    process::{Command, Stdio},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{PASSWORD, Reply, TestServer, python::totp_code};

impl TestServer {
    /// Turns MFA on for `name`; returns (access token, TOTP secret, recovery codes). The server
    /// clock is then moved to the next step, so the confirmation code is not replayed by tests.
    pub async fn enable_mfa(&self, name: &str) -> (String, String, Vec<String>) {
        let (access, _) = self.user_with_tokens(name).await;
        let setup = self
            .call(Method::POST, "/auth/mfa/totp/setup", Some(&access), None)
            .await;
        assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
        let secret = setup.str("secret");
        let code = totp_code(&secret, self.now().await);
        let confirm = self
            .call(
                Method::POST,
                "/auth/mfa/totp/confirm",
                Some(&access),
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
        let codes = confirm.body["recovery_codes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        self.advance_clock(30).await;
        (access, secret, codes)
    }

    /// The server's unix time (its clock may have been moved).
    pub async fn now(&self) -> i64 {
        let reply = self.post("/__test/clock", json!({"advance": 0})).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body["now"].as_i64().expect("now")
    }

    /// A request authenticated with `X-API-Key`.
    pub async fn call_with_key(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("x-api-key", key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::from(req.send().await.expect("request failed")).await
    }

    /// Runs `castellan ARGS` against this server's database; stdin gets `input`.
    pub fn cli(&self, args: &[&str], input: &str) -> (bool, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_castellan"));
        cmd.args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("CASTELLAN_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CASTELLAN_DATABASE__URL", &self.db.url)
            .env("CASTELLAN_PASSWORDS__MEMORY_KIB", "64")
            .env("CASTELLAN_PASSWORDS__ITERATIONS", "1")
            .env("CASTELLAN_LOG__LEVEL", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run castellan");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A user made with `castellan user add NAME --email NAME@example.com EXTRA…`; returns
    /// its id.
    pub fn cli_user(&self, name: &str, extra: &[&str]) -> i64 {
        let email = format!("{name}@example.com");
        let mut args = vec!["user", "add", name, "--email", &email];
        args.extend_from_slice(extra);
        let (ok, out, err) = self.cli(&args, &format!("{PASSWORD}\n"));
        assert!(ok, "user add failed: {out}\n{err}");
        let user: Value = serde_json::from_str(out.trim()).expect("user JSON");
        user["id"].as_i64().expect("id")
    }

    /// A logged-in superuser: (user id, access token).
    pub async fn superuser(&self, name: &str) -> (i64, String) {
        let id = self.cli_user(name, &["--superuser", "--role", "admin"]);
        let (access, _) = self.login(name).await;
        (id, access)
    }

    /// The user's id, through `GET /auth/me`.
    pub async fn my_id(&self, access: &str) -> i64 {
        let me = self.get("/auth/me", Some(access)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        me.body["id"].as_i64().expect("id")
    }
}
