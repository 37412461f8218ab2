//! On a system without CA certificates (small container images, where a stdio
//! server's pod runs `hangar bridge`), the HTTP client still builds: plain
//! HTTP works and HTTPS fails to verify, instead of the process failing at start.
//!
//! The test runs itself again as a child process whose environment points
//! the certificate lookup at nothing (no `set_var` in a running process).

use std::io::{Read, Write};
use std::net::TcpListener;

const CHILD: &str = "HANGAR_TEST_WITHOUT_CA_CERTIFICATES";

#[test]
fn the_client_builds_and_speaks_plain_http_without_ca_certificates() {
    if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(without_ca_certificates());
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_client_builds_and_speaks_plain_http_without_ca_certificates",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt")
        .env("SSL_CERT_DIR", "/nonexistent/certs")
        .output()
        .expect("run the test binary again");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn without_ca_certificates() {
    assert!(
        reqwest::Client::builder().build().is_err(),
        "the system's certificates were still found; the test proves nothing"
    );
    let client = hangar_mcp_client::http_client(reqwest::Client::builder);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .unwrap();
    });
    let body = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .expect("plain HTTP works")
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");
}
