//! Graceful shutdown of the real binary: SIGTERM stops accepting, lets running requests
//! finish, delivers due mail, and exits 0; a stuck client cannot hold the process past
//! `server.shutdown_timeout`.

mod common;

use common::{PASSWORD, TestServer, smtp::SmtpSink};
use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A raw HTTP/1.1 connection, so that a request can be left half-sent on purpose.
struct RawConnection {
    stream: TcpStream,
}

impl RawConnection {
    /// Connects and completes one request first, so the server has surely accepted it.
    async fn open(app: &TestServer) -> Self {
        let mut stream = TcpStream::connect(address(app)).await.expect("connect");
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nhost: castellan\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        // The answer to /health/live is small: read until its body has arrived.
        while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") || !seen.ends_with(b"}") {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(
            seen.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
        Self { stream }
    }

    /// Sends the head of a JSON POST and the first `sent` bytes of its body.
    async fn start_post(&mut self, path: &str, body: &str, sent: usize) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: castellan\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{}",
            body.len(),
            &body[..sent]
        );
        self.stream.write_all(head.as_bytes()).await.unwrap();
    }

    /// Sends the rest of the body and reads the whole answer: (status, body).
    async fn finish(mut self, rest: &str) -> (u16, serde_json::Value) {
        self.stream.write_all(rest.as_bytes()).await.unwrap();
        let mut answer = String::new();
        self.stream
            .read_to_string(&mut answer)
            .await
            .expect("answer");
        let status = answer
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or_default())
    }
}

/// Waits until the server has begun the login (it is waiting for the rest of its body).
async fn wait_until_running(app: &TestServer) {
    for _ in 0..600 {
        let logs = app.logs();
        if logs
            .lines()
            .any(|l| l.contains("request started") && l.contains("/auth/token"))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the login never started:\n{}", app.logs());
}

fn address(app: &TestServer) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_running_request_delivers_mail_and_exits_zero() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let mut app = TestServer::start_with(&[
        ("CASTELLAN_SMTP__URL", &smtp),
        ("CASTELLAN_LOG__LEVEL", "info,castellan=debug"),
    ])
    .await;
    app.register("sally").await;
    let forgot = app
        .post(
            "/auth/password/forgot",
            json!({"email": "sally@example.com"}),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED, "{}", forgot.text);

    // A login whose body is still on its way when the signal arrives.
    let login = json!({"username": "sally", "password": PASSWORD}).to_string();
    let mut running = RawConnection::open(&app).await;
    running.start_post("/auth/token", &login, 10).await;
    wait_until_running(&app).await;
    app.signal("TERM");
    app.wait_for_log("shutting down").await;

    // No new connections once shutdown has begun.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(address(&app)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "new connections are still accepted");

    let (status, body) = running.finish(&login[10..]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    let exit = app.exit_status().await.expect("the server did not exit");
    assert!(exit.success(), "{exit:?}\n{}", app.logs());
    // The last lines may still be in the pipe when the process is gone.
    app.wait_for_log("stopped").await;
    assert!(
        !app.logs().contains("shutdown timeout reached"),
        "{}",
        app.logs()
    );

    // The verification and reset mails were acknowledged before the signal: both were sent,
    // and nothing is left behind in the outbox.
    let mails = sink.mails_to("sally@example.com");
    let mut subjects: Vec<_> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["Confirm your email address", "Reset your password"]
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM mail_outbox").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_client_does_not_hold_shutdown_past_the_timeout() {
    // The request itself may run ten minutes; shutdown allows it one second.
    let mut app = TestServer::start_with(&[
        ("CASTELLAN_SERVER__REQUEST_TIMEOUT", "600s"),
        ("CASTELLAN_SERVER__SHUTDOWN_TIMEOUT", "1s"),
        ("CASTELLAN_LOG__LEVEL", "info,castellan=debug"),
    ])
    .await;
    let login = json!({"username": "nobody", "password": PASSWORD}).to_string();
    let mut stuck = RawConnection::open(&app).await;
    stuck.start_post("/auth/token", &login, 5).await;
    wait_until_running(&app).await;
    app.signal("TERM");

    // Exits on its own (well before the request's own ten minutes), cleanly, and says
    // how many connections it cut.
    let exit = app.exit_status().await.expect("the server did not exit");
    assert!(exit.success(), "{exit:?}\n{}", app.logs());
    app.wait_for_log("stopped").await;
    let logs = app.logs();
    let cut = logs
        .lines()
        .find(|l| l.contains("shutdown timeout reached"))
        .unwrap_or_else(|| panic!("no timeout line in:\n{logs}"));
    assert!(cut.contains("cutting 1 open connection"), "{cut}");
    // The cut connection gets no answer: it is closed under the client.
    let mut rest = Vec::new();
    let read = stuck.stream.read_to_end(&mut rest).await;
    assert!(
        read.is_err() || rest.is_empty(),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}
