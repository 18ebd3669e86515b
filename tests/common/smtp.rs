//! A real SMTP server for the mail tests: aiosmtpd in a child process (see
//! tests/interop/smtp_sink.py); each delivered mail arrives here decoded.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
};

use super::python::{manifest_dir, python};

#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The `token=` value of the link in the plain-text body.
    pub fn token(&self) -> String {
        let at = self
            .text
            .find("token=")
            .expect("no token= link in the mail")
            + "token=".len();
        self.text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// The link (first line containing `token=`).
    pub fn link(&self) -> String {
        self.text
            .lines()
            .find(|l| l.contains("token="))
            .expect("no link")
            .trim()
            .to_owned()
    }
}

pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    _child: Child,
    _stdin: ChildStdin,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// A sink on `port` (0 picks a free one).
    pub async fn start_on(port: u16) -> Self {
        let mut child = Command::new(python())
            .arg(manifest_dir().join("tests/interop/smtp_sink.py"))
            .arg(port.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("SMTP sink did not start")
            .expect("read")
            .expect("SMTP sink exited");
        let port: u16 = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first}"));
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mail: Mail = serde_json::from_str(&line).expect("mail JSON");
                sink.lock().unwrap().push(mail);
            }
        });
        SmtpSink {
            port,
            mails,
            _child: child,
            _stdin: stdin,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail delivered so far to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .cloned()
            .collect()
    }

    /// Waits until `count` mails to `to` have arrived and returns the last of them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Mail {
        for _ in 0..300 {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails[count - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("mail #{count} to {to} did not arrive within 30 s");
    }
}

/// A port nobody listens on right now (for an SMTP outage).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
