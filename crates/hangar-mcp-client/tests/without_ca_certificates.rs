//! On a system without CA certificates (small container images, where a stdio
//! server's pod runs `hangar bridge`), the HTTP client still builds: plain
//! HTTP works and HTTPS fails to verify, instead of the process failing at start.
//!
//! Its own test binary: it points the certificate lookup at nothing for the
//! whole process.

use std::io::{Read, Write};
use std::net::TcpListener;

#[tokio::test]
async fn the_client_builds_and_speaks_plain_http_without_ca_certificates() {
    // SAFETY: the only test in this binary, set before any thread reads the environment.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt");
        std::env::set_var("SSL_CERT_DIR", "/nonexistent/certs");
    }
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
