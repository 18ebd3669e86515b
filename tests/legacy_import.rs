//! Moving from another system: `castellan import users` with real exports and real hashes
//! (written by Django's own hashers and `dumpdata`, argon2-cffi, passlib and bcrypt through
//! tests/interop/legacy_fixtures.py), logins through every dialect with re-hashing, the
//! all-or-nothing and idempotent import, and the replaced SimpleJWT service's HS256 tokens.

mod common;

use std::{path::PathBuf, process::Command, sync::OnceLock};

use common::{Backend, TestDb, TestServer, backend, castellan_cli};
use reqwest::StatusCode;
use serde_json::{Value, json};

const LEGACY_PASSWORD: &str = "Legacy-pass-w0rd!";
/// The Django SECRET_KEY the fixture script signs its tokens with.
const DJANGO_SECRET: &str = "django-insecure-legacy-fixtures-0123456789abcdefghijklmnop";

/// The project's virtualenv python (scripts/python-env.sh installs it when needed).
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Ok(p) = std::env::var("CASTELLAN_TEST_PYTHON") {
            return PathBuf::from(p);
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let out = Command::new("bash")
            .arg(format!("{root}/scripts/python-env.sh"))
            .output()
            .expect("run python-env.sh");
        assert!(
            out.status.success(),
            "python-env.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .expect("python path")
                .trim(),
        )
    })
}

fn fixture(args: &[&str]) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/legacy_fixtures.py"
    );
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("run legacy_fixtures.py");
    assert!(
        out.status.success(),
        "legacy_fixtures.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Imported {
    stdout: String,
    stderr: String,
    success: bool,
}

async fn import(db: &TestDb, name: &str, content: &str, extra: &[&str]) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let mut args = vec!["import", "users", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = castellan_cli(&db.url, &args, "", &[]).await;
    Imported {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

async fn scalar_text(db: &TestDb, sql: &str) -> String {
    match backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }
}

async fn user_count(db: &TestDb) -> String {
    scalar_text(db, "SELECT CAST(COUNT(*) AS TEXT) FROM users").await
}

async fn hash_of(db: &TestDb, username: &str) -> String {
    scalar_text(
        db,
        &format!("SELECT password_hash FROM users WHERE username = '{username}'"),
    )
    .await
}

/// Logs in through the native API, SimpleJWT and the envelope; returns the native access token.
async fn login_everywhere(
    app: &TestServer,
    username: &str,
    password: &str,
) -> Result<String, String> {
    let body = json!({"username": username, "password": password});
    let native = app.post("/auth/token", body.clone()).await;
    let simplejwt = app.post("/api/token/", body.clone()).await;
    let envelope = app.post("/api/auth/login", body).await;
    let statuses = [native.status, simplejwt.status, envelope.status];
    if statuses.iter().all(|s| *s == StatusCode::OK) {
        assert_eq!(simplejwt.keys(), ["refresh", "access"]);
        assert_eq!(envelope.body["data"]["username"], username);
        Ok(native.str("access_token"))
    } else {
        Err(format!(
            "{username}: {statuses:?} {} {} {}",
            native.text, simplejwt.text, envelope.text
        ))
    }
}

const DJANGO_USERS: &[(&str, i64, &str)] = &[
    ("pbkdf2user", 7, "pbkdf2_sha256$"),
    ("sha1user", 11, "pbkdf2_sha1$"),
    ("argonuser", 12, "argon2$argon2id$"),
    ("argoniuser", 20, "argon2$argon2i$"),
    ("bcryptshauser", 31, "bcrypt_sha256$$2b$"),
    ("bcryptuser", 42, "bcrypt$$2b$"),
];

#[tokio::test(flavor = "multi_thread")]
async fn a_django_export_imports_and_its_users_log_in_through_every_dialect() {
    let export = fixture(&["django-export", LEGACY_PASSWORD]);
    let db = std::sync::Arc::new(TestDb::new().await);
    let first = import(&db, "users.json", &export, &[]).await;
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first
            .stdout
            .contains("8 created, 0 updated, 0 skipped, 0 rejected"),
        "{}",
        first.stdout
    );

    let app = TestServer::start_on(db.clone(), &[]).await;
    let test_params = "$argon2id$v=19$m=64,t=1,p=1$";
    for (username, pk, scheme) in DJANGO_USERS {
        assert!(
            hash_of(&db, username).await.starts_with(scheme),
            "{username} was not imported with its {scheme} hash"
        );
        let wrong = app
            .post(
                "/auth/token",
                json!({"username": username, "password": "not-the-password"}),
            )
            .await;
        wrong.assert_error(401, "INVALID_CREDENTIALS");
        let access = login_everywhere(&app, username, LEGACY_PASSWORD)
            .await
            .unwrap();
        // The first successful login re-hashed the password with the current parameters.
        assert!(
            hash_of(&db, username).await.starts_with(test_params),
            "{username} not re-hashed"
        );
        let me = app.get("/auth/me", Some(&access)).await;
        assert_eq!(me.body["id"], *pk, "the Django primary key is the user id");
        assert_eq!(me.body["username"], *username);
        assert_eq!(me.body["roles"], json!(["user"]));
    }
    let me = app
        .get(
            "/auth/me",
            Some(
                &login_everywhere(&app, "argonuser", LEGACY_PASSWORD)
                    .await
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(
        (
            me.body["first_name"].as_str(),
            me.body["last_name"].as_str()
        ),
        (Some("Ar"), Some("Gon"))
    );
    assert_eq!(me.body["email"], "argon@example.com");
    assert!(
        me.body["created_at"]
            .as_str()
            .unwrap()
            .starts_with(&export[export.find("\"date_joined\": \"").unwrap() + 16..][..4])
    );
    let me = app
        .get(
            "/auth/me",
            Some(
                &login_everywhere(&app, "argoniuser", LEGACY_PASSWORD)
                    .await
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(
        me.body["email"], "",
        "a Django user without email keeps none"
    );
    let me = app
        .get(
            "/auth/me",
            Some(
                &login_everywhere(&app, "bcryptshauser", LEGACY_PASSWORD)
                    .await
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(me.body["is_superuser"], true);
    // Disabled and password-less Django accounts exist but cannot log in.
    for username in ["inactiveuser", "nopassuser"] {
        let err = login_everywhere(&app, username, LEGACY_PASSWORD)
            .await
            .unwrap_err();
        assert!(err.contains("401"), "{err}");
    }

    // Ids continue past the imported primary keys on both backends.
    let fresh = app.register("newcomer").await;
    assert_eq!(fresh.body["id"], 51, "{}", fresh.text);

    // Re-running the import changes nothing: no duplicates, and the passwords Castellan
    // re-hashed are not replaced by the export's old hashes.
    let again = import(&db, "users.json", &export, &[]).await;
    assert!(again.success, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("0 created, 0 updated, 8 skipped, 0 rejected"),
        "{}",
        again.stdout
    );
    assert_eq!(user_count(&db).await, "9");
    assert!(hash_of(&db, "pbkdf2user").await.starts_with(test_params));
    login_everywhere(&app, "pbkdf2user", LEGACY_PASSWORD)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn argon2_cffi_passlib_and_bcrypt_hashes_verify_and_upgrade() {
    let hashes: serde_json::Map<String, Value> =
        serde_json::from_str(&fixture(&["hashes", LEGACY_PASSWORD])).unwrap();
    assert_eq!(hashes.len(), 11);
    let mut lines = String::new();
    let mut names = Vec::new();
    for (i, (scheme, hash)) in hashes.iter().enumerate() {
        let username = format!("user{i}");
        lines.push_str(&json!({"username": username, "email": format!("{username}@example.com"), "password_hash": hash}).to_string());
        lines.push('\n');
        names.push((username, scheme.clone(), hash.as_str().unwrap().to_owned()));
    }
    let db = std::sync::Arc::new(TestDb::new().await);
    let out = import(&db, "users.jsonl", &lines, &[]).await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("11 created"), "{}", out.stdout);
    let app = TestServer::start_on(db.clone(), &[]).await;
    for (username, scheme, hash) in &names {
        assert_eq!(&hash_of(&db, username).await, hash);
        let wrong = app
            .post(
                "/auth/token",
                json!({"username": username, "password": "Legacy-pass-w0rd?"}),
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "{scheme} accepted a wrong password"
        );
        let ok = app
            .post(
                "/auth/token",
                json!({"username": username, "password": LEGACY_PASSWORD}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{scheme}: {}", ok.text);
        let upgraded = hash_of(&db, username).await;
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{scheme} not re-hashed: {upgraded}"
        );
        let again = app
            .post(
                "/api/auth/login",
                json!({"username": username, "password": LEGACY_PASSWORD}),
            )
            .await;
        assert_eq!(
            again.status,
            StatusCode::OK,
            "{scheme} after re-hash: {}",
            again.text
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_row_rejects_the_whole_import_and_names_every_bad_row() {
    let hashes: serde_json::Map<String, Value> =
        serde_json::from_str(&fixture(&["hashes", LEGACY_PASSWORD])).unwrap();
    let good = hashes["bcrypt 2b"].as_str().unwrap();
    let csv = format!(
        "username,email,password_hash,first_name,last_name,is_active,is_superuser,date_joined,roles\n\
         alice,alice@example.com,{good},Alice,A,true,false,2021-03-04 05:06:07,user\n\
         bob,not-an-email,{good},,,true,false,,\n\
         carol,carol@example.com,md5$salt$0123456789abcdef,,,true,false,,\n\
         dave,dave@example.com,{good},,,maybe,false,,\n\
         Alice,other@example.com,{good},,,true,false,,\n\
         erin,erin@example.com,{good},,,true,false,,wizard\n"
    );
    let db = std::sync::Arc::new(TestDb::new().await);
    let out = import(&db, "users.csv", &csv, &[]).await;
    assert!(!out.success, "{}", out.stdout);
    for expected in [
        "rejected line 3: email: Enter a valid email address.",
        "rejected line 4: password_hash: unsupported password hash algorithm",
        "rejected line 5: is_active: expected true or false",
        "rejected line 6: duplicate username (also on line 2)",
        "rejected line 7: unknown role `wizard`",
        "1 created, 0 updated, 0 skipped, 5 rejected",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing `{expected}` in:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stderr.contains("nothing was imported"),
        "{}",
        out.stderr
    );
    assert_eq!(user_count(&db).await, "0");

    // The valid row alone imports, with its CSV columns.
    let only_good = csv.lines().take(2).collect::<Vec<_>>().join("\n");
    let out = import(&db, "users.csv", &only_good, &[]).await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    let app = TestServer::start_on(db.clone(), &[]).await;
    let access = login_everywhere(&app, "alice", LEGACY_PASSWORD)
        .await
        .unwrap();
    let me = app.get("/auth/me", Some(&access)).await;
    assert_eq!(me.body["first_name"], "Alice");
    assert_eq!(me.body["created_at"], "2021-03-04T05:06:07Z");
}

/// An argon2id hash with the test servers' parameters, as another Castellan would export
/// it: logging in with it re-hashes nothing.
fn current_hash(password: &str) -> String {
    use argon2::PasswordHasher;
    let params = argon2::Params::new(64, 1, 1, None).unwrap();
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon2
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn re_import_updates_profiles_and_passwords_castellan_has_not_taken_over() {
    let hashes: serde_json::Map<String, Value> =
        serde_json::from_str(&fixture(&["hashes", LEGACY_PASSWORD])).unwrap();
    let other: serde_json::Map<String, Value> =
        serde_json::from_str(&fixture(&["hashes", "Changed-in-Django-1"])).unwrap();
    let (old, new) = (
        hashes["bcrypt 2b"].as_str().unwrap(),
        other["bcrypt 2b"].as_str().unwrap(),
    );
    let (current_old, current_new) = (
        current_hash(LEGACY_PASSWORD),
        current_hash("Changed-in-Django-1"),
    );
    let row = |id: i64, name: &str, hash: &str, first: &str| {
        json!({"id": id, "username": name, "email": format!("{name}@example.com"), "password_hash": hash, "first_name": first}).to_string()
    };
    let v1 = [
        row(3, "kept", old, "K"),
        row(4, "moved", old, "M"),
        row(5, "same", old, "S"),
        row(8, "current", &current_old, "C"),
    ]
    .join("\n");
    let db = std::sync::Arc::new(TestDb::new().await);
    let out = import(&db, "v1.jsonl", &v1, &[]).await;
    assert!(
        out.stdout
            .contains("4 created, 0 updated, 0 skipped, 0 rejected"),
        "{}",
        out.stdout
    );

    let app = TestServer::start_on(db.clone(), &[]).await;
    // `moved` logs in to Castellan and is re-hashed: from now on Castellan owns that password.
    let moved_access = login_everywhere(&app, "moved", LEGACY_PASSWORD)
        .await
        .unwrap();
    // `current` logs in too, but its hash is already current: it stays the imported one.
    let (current_access, _) = app.login_with("current", LEGACY_PASSWORD).await;
    assert_eq!(hash_of(&db, "current").await, current_old);

    // Meanwhile in the old system: passwords changed, `kept` renamed; one new user.
    let v2 = [
        row(3, "kept", new, "Kept"),
        row(4, "moved", new, "M"),
        row(5, "same", old, "S"),
        row(8, "current", &current_new, "C"),
        row(6, "added", old, "A"),
    ]
    .join("\n");
    let dry = import(&db, "v2.jsonl", &v2, &["--dry-run"]).await;
    assert!(
        dry.stdout
            .contains("1 created, 2 updated, 2 skipped, 0 rejected"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert_eq!(user_count(&db).await, "4");

    let out = import(&db, "v2.jsonl", &v2, &["--format", "jsonl"]).await;
    assert!(
        out.stdout
            .contains("1 created, 2 updated, 2 skipped, 0 rejected"),
        "{}",
        out.stdout
    );
    assert_eq!(user_count(&db).await, "5");
    // Accounts still on their imported hash take the new password.
    let access = login_everywhere(&app, "kept", "Changed-in-Django-1")
        .await
        .unwrap();
    assert!(
        login_everywhere(&app, "kept", LEGACY_PASSWORD)
            .await
            .is_err()
    );
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["first_name"],
        "Kept"
    );
    // A password changed in the old system ends the sessions opened with the old one; the
    // server learns of the import's revocations at its next sync, within about a second.
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = app.get("/auth/me", Some(&current_access)).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    login_everywhere(&app, "current", "Changed-in-Django-1")
        .await
        .unwrap();
    // `moved` keeps the password it used with Castellan, and its session.
    login_everywhere(&app, "moved", LEGACY_PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        app.get("/auth/me", Some(&moved_access)).await.status,
        StatusCode::OK
    );
    let added = login_everywhere(&app, "added", LEGACY_PASSWORD)
        .await
        .unwrap();
    assert_eq!(app.get("/auth/me", Some(&added)).await.body["id"], 6);

    // An id or username that clashes with a different account is refused.
    let clash = [row(3, "renamed", old, ""), row(9, "same", old, "S")].join("\n");
    let out = import(&db, "clash.jsonl", &clash, &[]).await;
    assert!(!out.success);
    assert!(
        out.stdout
            .contains("rejected line 1: id 3 already belongs to user `kept`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("rejected line 2: username `same` is user id 5 here, not 9"),
        "{}",
        out.stdout
    );
    // ... and so is an import row for an account Castellan created itself.
    app.register("native").await;
    let native = json!({"username": "native", "email": "native@example.com", "password_hash": old});
    let out = import(&db, "native.jsonl", &native.to_string(), &[]).await;
    assert!(
        out.stdout.contains("not created by an import"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_simplejwt_access_tokens_work_until_they_expire() {
    let export = fixture(&["django-export", LEGACY_PASSWORD]);
    let db = std::sync::Arc::new(TestDb::new().await);
    assert!(import(&db, "users.json", &export, &[]).await.success);
    let app = TestServer::start_on(
        db.clone(),
        &[
            ("CASTELLAN_TOKENS__LEGACY_HS256_SECRET", DJANGO_SECRET),
            ("CASTELLAN_API__SIMPLEJWT__EXTRAS", "true"),
        ],
    )
    .await;
    let token = fixture(&["token", DJANGO_SECRET, "7", "300"])
        .trim()
        .to_owned();

    // Accepted wherever a bearer token is, resolving user_id to the imported user.
    let me = app.get("/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(
        (me.body["id"].as_i64(), me.body["username"].as_str()),
        (Some(7), Some("pbkdf2user"))
    );
    assert_eq!(
        app.get("/api/getuser", Some(&token)).await.body,
        json!({"username": "pbkdf2user"})
    );
    let v = app
        .post("/api/token/verify/", json!({"token": token}))
        .await;
    assert_eq!((v.status, v.text.as_str()), (StatusCode::OK, "{}"));

    // Refused: another secret, another HMAC algorithm, a refresh token, an unknown user,
    // an inactive user, and one already expired.
    for refused in [
        fixture(&[
            "token",
            "some-other-secret-of-another-service-0123",
            "7",
            "300",
        ]),
        fixture(&["token", DJANGO_SECRET, "7", "300", "refresh"]),
        fixture(&["token", DJANGO_SECRET, "999", "300"]),
        fixture(&["token", DJANGO_SECRET, "43", "300"]),
        fixture(&["token", DJANGO_SECRET, "7", "-10"]),
    ] {
        let r = app.get("/auth/me", Some(refused.trim())).await;
        r.assert_error(401, "TOKEN_INVALID");
        let g = app.get("/api/getuser", Some(refused.trim())).await;
        assert_eq!(g.body["detail"], "Given token not valid for any token type");
    }
    let hs384 = hs(DJANGO_SECRET, "HS384");
    app.get("/auth/me", Some(&hs384))
        .await
        .assert_error(401, "TOKEN_INVALID");
    assert_eq!(
        app.get("/auth/me", Some(&hs(DJANGO_SECRET, "HS256")))
            .await
            .status,
        StatusCode::OK
    );

    // Expiry follows the server clock.
    app.advance_clock(301).await;
    app.get("/auth/me", Some(&token))
        .await
        .assert_error(401, "TOKEN_INVALID");

    // Without the setting the same kind of token is refused.
    let plain = TestServer::start_on(db.clone(), &[]).await;
    let fresh = fixture(&["token", DJANGO_SECRET, "7", "300"]);
    plain
        .get("/auth/me", Some(fresh.trim()))
        .await
        .assert_error(401, "TOKEN_INVALID");
    // With it, logging out with a legacy token revokes that token.
    let fresh_token = fixture(&["token", DJANGO_SECRET, "12", "300"])
        .trim()
        .to_owned();
    let other = TestServer::start_on(
        db.clone(),
        &[("CASTELLAN_TOKENS__LEGACY_HS256_SECRET", DJANGO_SECRET)],
    )
    .await;
    assert_eq!(
        other.get("/auth/me", Some(&fresh_token)).await.status,
        StatusCode::OK
    );
    let out = other
        .call(
            reqwest::Method::POST,
            "/auth/logout",
            Some(&fresh_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    other
        .get("/auth/me", Some(&fresh_token))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

/// A SimpleJWT-shaped token signed in Rust with `alg`, for algorithms PyJWT's helper does
/// not take here.
fn hs(secret: &str, alg: &str) -> String {
    let algorithm = match alg {
        "HS256" => jsonwebtoken::Algorithm::HS256,
        _ => jsonwebtoken::Algorithm::HS384,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"token_type": "access", "exp": now + 300, "iat": now, "jti": "0123456789abcdef", "user_id": 7});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}
