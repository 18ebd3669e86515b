//! The Python interpreter with the third-party peers of the tests (PyJWT, aiosmtpd, pyotp,
//! authlib, schemathesis).
//! It comes from `CASTELLAN_TEST_PYTHON`, else `.venv/bin/python` in the repository; when
//! neither is usable, `scripts/python-env.sh` creates the virtualenv. If Python cannot be set
//! up the tests that need it fail rather than skip.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
};

const MODULES: &str = "import jwt, requests, aiosmtpd, pyotp, authlib, schemathesis";

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter, located (and if need be set up) once per test binary.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(locate_python) {
        Ok(path) => path,
        Err(e) => panic!("Python with the test peers is required: {e}"),
    }
}

fn locate_python() -> Result<PathBuf, String> {
    if let Some(configured) = std::env::var_os("CASTELLAN_TEST_PYTHON") {
        let path = PathBuf::from(configured);
        return match check_python(&path) {
            Ok(()) => Ok(path),
            Err(e) => Err(format!("CASTELLAN_TEST_PYTHON={}: {e}", path.display())),
        };
    }
    let venv = manifest_dir().join(".venv/bin/python");
    if venv.exists() && check_python(&venv).is_ok() {
        return Ok(venv);
    }
    let script = manifest_dir().join("scripts/python-env.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    match check_python(&path) {
        Ok(()) => Ok(path),
        Err(e) => Err(format!(
            "{} printed an unusable python {}: {e}",
            script.display(),
            path.display()
        )),
    }
}

/// The interpreter runs and has every peer module.
fn check_python(python: &Path) -> Result<(), String> {
    let output = std::process::Command::new(python)
        .args(["-c", MODULES])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{MODULES}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The TOTP code an authenticator app (pyotp) shows for `secret` at unix time `at`.
pub fn totp_code(secret: &str, at: i64) -> String {
    let output = std::process::Command::new(python())
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run pyotp");
    assert!(
        output.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// What pyotp reads from an `otpauth://` URI: (secret, issuer, account name, digits, period).
pub fn parse_otpauth(uri: &str) -> (String, String, String, u32, u32) {
    let script = "import pyotp, sys\n\
                  t = pyotp.parse_uri(sys.argv[1])\n\
                  print(t.secret, t.issuer, t.name, t.digits, t.interval, t.digest().name)";
    let output = std::process::Command::new(python())
        .args(["-c", script, uri])
        .stdin(Stdio::null())
        .output()
        .expect("run pyotp");
    assert!(
        output.status.success(),
        "pyotp could not parse {uri}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let fields: Vec<&str> = text.split(' ').collect();
    assert_eq!(fields.len(), 6, "{text}");
    assert_eq!(fields[5], "sha1", "{text}");
    (
        fields[0].into(),
        fields[1].into(),
        fields[2].into(),
        fields[3].parse().unwrap(),
        fields[4].parse().unwrap(),
    )
}
