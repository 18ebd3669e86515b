//! `castellan config` prints the effective settings with every secret masked, as a file
//! `castellan check` accepts; `castellan check` refuses a bad setting by name, without
//! starting anything.

mod common;

use common::{TestDb, castellan_cli};

const SECRETS: [&str; 4] = [
    "an-hs256-secret-of-at-least-32-bytes!!",
    "db-password-123",
    "metrics-scrape-token-0123",
    "upstream-client-secret",
];

#[tokio::test]
async fn config_masks_every_secret_and_check_accepts_what_it_prints() {
    let db = TestDb::new().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "[metrics]\ntoken = \"{}\"\n\n[[federation.providers]]\nid = \"corp\"\n\
             issuer = \"https://sso.example.com\"\nclient_id = \"castellan\"\nclient_secret = \"{}\"\n",
            SECRETS[2], SECRETS[3]
        ),
    )
    .unwrap();
    let db_url = format!(
        "postgres://castellan:{}@db.example.com/castellan",
        SECRETS[1]
    );
    let env = [
        ("CASTELLAN_TOKENS__ALGORITHM", "HS256"),
        ("CASTELLAN_TOKENS__SECRET", SECRETS[0]),
        ("CASTELLAN_DATABASE__URL", db_url.as_str()),
    ];
    let path = file.path().to_str().unwrap();
    let out = castellan_cli(&db.url, &["--config", path, "config"], "", &env).await;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in SECRETS {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    assert!(printed.contains("postgres://castellan:********@db.example.com/castellan"));
    assert!(printed.contains("algorithm = \"HS256\""));
    assert!(printed.contains("client_id = \"castellan\""));

    // What it prints is a configuration file (with the secrets given again, as from the
    // environment in production).
    let again = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(again.path(), &printed).unwrap();
    let secret_env = [
        ("CASTELLAN_TOKENS__SECRET", SECRETS[0]),
        ("CASTELLAN_METRICS__TOKEN", SECRETS[2]),
    ];
    let check = castellan_cli(
        &db.url,
        &["--config", again.path().to_str().unwrap(), "check"],
        "",
        &secret_env,
    )
    .await;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("configuration is valid"));
}

#[tokio::test]
async fn check_names_the_bad_setting_and_fails() {
    let db = TestDb::new().await;
    for (key, value, named) in [
        ("CASTELLAN_SERVER__BIND", "not-an-address", "server.bind"),
        ("CASTELLAN_METRICS__TOKEN", "short", "metrics.token"),
        ("CASTELLAN_TOKENS__NOPE", "1", "nope"),
        // Above what the verifier accepts: every hash it wrote would be refused at login.
        ("CASTELLAN_PASSWORDS__ITERATIONS", "65", "passwords"),
        (
            "CASTELLAN_DATABASE__SQLITE_SYNCHRONOUS",
            "sometimes",
            "SQLITE_SYNCHRONOUS",
        ),
    ] {
        let out = castellan_cli(&db.url, &["check"], "", &[(key, value)]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}={value} was accepted");
        assert!(err.contains(named), "{key}: {err}");
    }
}
