//! Schema fuzzing: schemathesis (from `tests/interop/requirements.txt`) generates requests
//! from the live server's `/openapi.json` and checks every answer: no 5xx, a documented
//! status, the documented content type and a body that matches its schema.

mod common;

use std::time::Duration;

use common::{TestServer, python::python};
use tokio::process::Command;

/// Examples per operation: enough to reach every operation's edge cases, small enough to
/// keep the run at a few minutes per backend.
const EXAMPLES: &str = "8";

#[tokio::test]
async fn schemathesis_finds_no_server_error_or_schema_violation() {
    let server = TestServer::start_with(&[
        ("CASTELLAN_API__SIMPLEJWT__EXTRAS", "true"),
        // Generated traffic would otherwise hit the limits and turn into 429s (which stay
        // documented, and so conform, but test nothing).
        ("CASTELLAN_LIMITS__REQUESTS", "0"),
        ("CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR", "1000000"),
        ("CASTELLAN_LIMITS__ACCOUNT_FAILURES_PER_HOUR", "1000000"),
        ("CASTELLAN_LIMITS__ACCOUNT_SOURCE_FAILURES", "1000000"),
    ])
    .await;
    // A superuser's token reaches past the authentication checks into every handler,
    // the admin API included.
    let (_, token) = server.superuser("fuzzer").await;
    let schemathesis = python()
        .parent()
        .expect("the interpreter is in the virtualenv's bin")
        .join("schemathesis");
    // schemathesis keeps state in its working directory; keep it out of the checkout.
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut cmd = Command::new(&schemathesis);
    cmd.current_dir(scratch.path())
        .arg("run")
        .arg(server.url("/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            EXAMPLES,
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "8",
            "--no-color",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            // Moving the clock expires the token, logging out ends its session: both would
            // only turn the rest of the run into 401s.
            "--exclude-path-regex",
            "(__test/clock|logout)",
            "--header",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(900), cmd.output())
        .await
        .expect("schemathesis finished")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        output.status,
        server.logs()
    );
    // It really tested operations rather than giving up on the document.
    assert!(
        stdout.contains("passed") && !stdout.contains("No operations"),
        "{stdout}"
    );
    eprintln!("{stdout}");
}
