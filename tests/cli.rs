//! The command line: `--help`, `migrate`, `user add`, `keys rotate`, and settings errors,
//! each run as the real binary against a database of its own.

mod common;

use std::{
    io::Write,
    process::{Command, Output, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use common::{PASSWORD, TestDb, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long one command may take before the test gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    output: Output,
}

impl Run {
    fn success(&self) -> bool {
        self.output.status.success()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "{}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    fn assert_ok(&self) {
        assert!(self.success(), "command failed: {}", self.describe());
    }

    /// Asserts a failure whose stderr mentions `needle` (case-insensitively).
    fn assert_refused(&self, needle: &str) {
        assert!(!self.success(), "command succeeded: {}", self.describe());
        assert!(
            self.stderr()
                .to_lowercase()
                .contains(&needle.to_lowercase()),
            "stderr does not mention `{needle}`: {}",
            self.describe()
        );
    }
}

/// Runs `castellan ARGS` on `db` with only the given settings, `stdin` (if any) as its
/// standard input.
fn castellan(db: Option<&TestDb>, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_castellan"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CASTELLAN_") {
            cmd.env_remove(key);
        }
    }
    if let Some(db) = db {
        cmd.env("CASTELLAN_DATABASE__URL", &db.url);
    }
    cmd.env("CASTELLAN_PASSWORDS__MEMORY_KIB", "64")
        .env("CASTELLAN_PASSWORDS__ITERATIONS", "1")
        // Should a `serve` start after all, it must not take a fixed port.
        .env("CASTELLAN_SERVER__BIND", "127.0.0.1:0");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn castellan");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
        // Dropping the pipe closes it.
    }
    let started = Instant::now();
    while child.try_wait().expect("wait for castellan").is_none() {
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "castellan {args:?} did not finish within {COMMAND_TIMEOUT:?}:\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run {
        output: child.wait_with_output().expect("collect output"),
    }
}

fn add_user(db: &TestDb, username: &str, extra: &[&str], password: &str) -> Run {
    let email = format!("{username}@example.com");
    let mut args = vec!["user", "add", username, "--email", email.as_str()];
    args.extend_from_slice(extra);
    castellan(Some(db), &args, &[], Some(&format!("{password}\n")))
}

#[test]
fn help_lists_the_subcommands() {
    let run = castellan(None, &["--help"], &[], None);
    run.assert_ok();
    let stdout = run.stdout();
    for command in ["serve", "migrate", "user", "keys"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.split_whitespace().next() == Some(command)),
            "`{command}` missing from --help:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_and_is_repeatable() {
    let db = TestDb::new().await;
    let backend = match common::backend() {
        common::Backend::Sqlite => "sqlite",
        common::Backend::Postgres => "postgres",
    };
    for _ in 0..2 {
        let run = castellan(Some(&db), &["migrate"], &[], None);
        run.assert_ok();
        assert!(
            run.stdout().contains("migrations applied"),
            "{}",
            run.describe()
        );
        assert!(run.stdout().contains(backend), "{}", run.describe());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn user_add_creates_a_superuser_who_can_log_in() {
    let db = Arc::new(TestDb::new().await);
    let run = add_user(&db, "alice", &["--superuser", "--role", "admin"], PASSWORD);
    run.assert_ok();
    let user: Value = serde_json::from_str(run.stdout().trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.describe()));
    assert_eq!(user["username"], "alice", "{user}");
    assert_eq!(user["email"], "alice@example.com", "{user}");
    assert_eq!(user["is_superuser"], true, "{user}");
    assert_eq!(user["is_active"], true, "{user}");
    let roles: Vec<&str> = user["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"user"),
        "roles: {roles:?}"
    );
    assert!(!run.stdout().contains(PASSWORD), "the password was echoed");

    let server = TestServer::start_on(db.clone(), &[]).await;
    let login = server
        .post(
            "/auth/token",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let me = server
        .get("/auth/me", Some(&login.str("access_token")))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["id"], user["id"], "{}", me.text);
    assert_eq!(me.body["is_superuser"], true, "{}", me.text);

    // The same username again is refused.
    add_user(&db, "alice", &[], PASSWORD)
        .assert_refused("a user with that username already exists");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_add_refuses_a_common_password() {
    let db = TestDb::new().await;
    add_user(&db, "bob", &[], "password").assert_refused("password: this password is too common");
    // Nothing was created: the same user with a good password goes through.
    add_user(&db, "bob", &[], PASSWORD).assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn user_add_refuses_an_unknown_role() {
    let db = TestDb::new().await;
    add_user(&db, "carol", &["--role", "wizard"], PASSWORD).assert_refused("unknown role `wizard`");
    add_user(&db, "carol", &[], PASSWORD).assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_bad_settings_naming_the_key() {
    let db = TestDb::new().await;
    castellan(
        Some(&db),
        &["serve"],
        &[("CASTELLAN_TOKENS__ACCESS_TTL", "banana")],
        None,
    )
    .assert_refused("access_ttl");
    castellan(
        Some(&db),
        &["serve"],
        &[("CASTELLAN_TOKENS__ALGORITHM", "HS256")],
        None,
    )
    .assert_refused("tokens.secret");
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_publishes_a_new_signing_key() {
    let db = Arc::new(TestDb::new().await);
    let before = {
        let mut server = TestServer::start_on(db.clone(), &[]).await;
        let jwks = server.get("/.well-known/jwks.json", None).await;
        server.kill().await;
        kids(&jwks.body)
    };
    assert_eq!(before.len(), 1, "{before:?}");

    let run = castellan(Some(&db), &["keys", "rotate"], &[], None);
    run.assert_ok();
    let kid = run.stdout().trim().to_owned();
    assert!(
        !kid.is_empty()
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not a kid: {}",
        run.describe()
    );
    assert_ne!(kid, before[0]);

    let server = TestServer::start_on(db.clone(), &[]).await;
    let jwks = server.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let after = kids(&jwks.body);
    assert_eq!(after.len(), 2, "{}", jwks.text);
    assert!(
        after.contains(&kid) && after.contains(&before[0]),
        "{after:?}"
    );

    // New tokens are signed with the new key.
    let (access, _) = server.user_with_tokens("dave").await;
    let header: Value =
        serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], kid.as_str(), "{header}");
}
