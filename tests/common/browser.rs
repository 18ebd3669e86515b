//! Headless Chromium (Debian's package) and the pinned npm playwright-core that drives it,
//! both installed by scripts/browser-env.sh, plus a runner for the scripts in tests/browser.

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;

use super::python::manifest_dir;

/// The chromium binary, installed if need be; `None` (skip) only outside CI.
pub fn chromium() -> Option<PathBuf> {
    let script = manifest_dir().join("scripts/browser-env.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/browser-env.sh");
    if output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        return Some(PathBuf::from(
            stdout.lines().last().unwrap_or_default().trim(),
        ));
    }
    let why = format!(
        "scripts/browser-env.sh failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "a headless browser is required under CI: {why}"
    );
    eprintln!("skipping the browser test: {why}");
    None
}

/// Runs `tests/browser/<script>` with `args` in node and returns the JSON object it prints
/// last; a failed run panics with its output and `context()` (e.g. the server's logs).
pub async fn run_script(
    chromium: &PathBuf,
    script: &str,
    args: &[&str],
    context: impl FnOnce() -> String,
) -> Value {
    let run = tokio::process::Command::new("node")
        .arg(manifest_dir().join("tests/browser").join(script))
        .args(args)
        .env("CHROMIUM", chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser did not finish")
        .expect("run node");
    assert!(
        output.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        context()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("browser report {stdout:?}: {e}"))
}
