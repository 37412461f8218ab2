//! An authorization server and a resource server we did not write: the
//! `oidc-provider` package (`peers/openid_provider.mjs`), a certified OpenID
//! Provider run by the pinned Node.js on a port of its own, which it keeps
//! across restarts; and an MCP server on the official Python SDK that takes
//! only that provider's tokens for its own audience (`peers/protected.py`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::tools::{Tool, locate, node_bin};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

pub struct OpenIdProvider {
    process: tokio::process::Child,
    port: u16,
    keys: PathBuf,
    config: Value,
}

impl OpenIdProvider {
    /// `config` lists its clients and resource servers (see the script);
    /// `keys` keeps its signing keys; `rotate` puts a new one first.
    pub async fn start(port: u16, keys: &Path, rotate: bool, config: Value) -> OpenIdProvider {
        let mut command = tokio::process::Command::new(node_bin("node"));
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/peers/openid_provider.mjs"
            ))
            .arg(port.to_string())
            .arg(keys)
            .arg(config.to_string())
            .args(rotate.then_some("rotate"))
            .env("HANGAR_NODE_MODULES", locate(Tool::NodeModules))
            .stdout(Stdio::piped())
            // Its warnings (an in-memory store, fine here) only matter when it fails.
            .stderr(std::fs::File::create(keys.with_extension("log")).unwrap())
            .kill_on_drop(true);
        let mut process = command.spawn().expect("start oidc-provider with Node.js");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        assert!(
            matches!(&ready, Ok(Ok(Some(line))) if line == "ready"),
            "oidc-provider did not start ({ready:?}):\n{}",
            std::fs::read_to_string(keys.with_extension("log")).unwrap_or_default()
        );
        // It prints notices later; a closed pipe would end it (EPIPE).
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        OpenIdProvider {
            process,
            port,
            keys: keys.to_path_buf(),
            config,
        }
    }

    /// Stops the provider and starts it again with a new signing key, the
    /// old ones still published.
    pub async fn rotate(mut self) -> OpenIdProvider {
        self.process.kill().await.unwrap();
        OpenIdProvider::start(self.port, &self.keys, true, self.config).await
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An access token for `resource` (RFC 8707), by the client credentials grant.
    pub async fn token(&self, client: &str, secret: &str, resource: &str, scope: &str) -> String {
        let reply = reqwest::Client::new()
            .post(format!("{}/token", self.issuer()))
            .basic_auth(client, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("resource", resource)
                    .append_pair("scope", scope)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let body: Value = reply.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }
}

/// `peers/protected.py`: an MCP server (`/mcp`, tool `whoami`) and a plain
/// HTTP endpoint (`/api/whoami`) that take only JWTs `issuer` signed for
/// `audience`, refusing the subjects in `refused`.
pub struct ProtectedServer {
    _process: tokio::process::Child,
    pub port: u16,
}

impl ProtectedServer {
    pub async fn start(port: u16, issuer: &str, audience: &str, refused: &[&str]) -> Self {
        let process = tokio::process::Command::new(locate(Tool::Python))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/peers/protected.py"))
            .args([&port.to_string(), issuer, audience])
            .args(refused)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start protected.py with the test Python");
        crate::eventually("protected.py to listen", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self {
            _process: process,
            port,
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}
