//! How an upstream is reached: a stdio child process, Streamable HTTP or the
//! legacy HTTP+SSE transport, in the protocol era its spec asks for.

use std::sync::Arc;

use hangar_config::{ProtocolPreference, Transport};
use hangar_mcp_client::{
    AuthorizedHttp, Authorizer, Lifecycles, SseClientTransport, error_chain, streamable_http,
};
use rmcp::model::ClientConfig;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::Upstream;
use super::ledger::Counted;
use super::link::Link;
use super::relay::{Client, Event, UpstreamClient, client_info, gateway_capabilities};
use super::stdio::StdioChild;
use crate::declared::header_map;

/// The handshakes to try for a server: the legacy SSE transport predates the
/// stateless revision, so it only ever initializes.
pub(super) fn lifecycles(protocol: ProtocolPreference, transport: Transport) -> Lifecycles {
    match (protocol, transport) {
        (ProtocolPreference::Legacy, _) | (_, Transport::Sse) => Lifecycles::legacy(),
        (ProtocolPreference::Modern, _) => Lifecycles::modern(),
        (ProtocolPreference::Auto, _) => Lifecycles::auto(),
    }
}

/// Lines of a stdio child's stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// Connects the gateway's own session with the server and records what the
/// server said about itself.
pub(super) async fn connect(
    upstream: &Arc<Upstream>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Client, String> {
    let spec = &upstream.spec;
    let client = open(
        upstream,
        Session {
            link: upstream.shared_link.clone(),
            events,
            info: client_info(gateway_capabilities()),
            lifecycles: lifecycles(spec.protocol, spec.transport),
        },
    )
    .await?;
    let Some(info) = client.peer().peer_info() else {
        return Err("the server sent no capabilities".into());
    };
    let mut state = upstream.write();
    state.modern = !info.protocol_version.has_initialize();
    state.capabilities = info.capabilities.clone();
    state.instructions = info.instructions.clone();
    drop(state);
    Ok(client)
}

/// What one session with the server is opened with.
pub(super) struct Session {
    pub(super) link: Arc<Link>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) info: ClientConfig,
    pub(super) lifecycles: Lifecycles,
}

/// Opens a session with the server over its transport.
pub(super) async fn open(upstream: &Arc<Upstream>, session: Session) -> Result<Client, String> {
    let spec = &upstream.spec;
    let Session {
        link,
        events,
        info,
        lifecycles,
    } = session;
    let relays = link.relays.clone();
    let handler = || UpstreamClient {
        upstream: upstream.clone(),
        link: link.clone(),
        events: events.clone(),
        info: info.clone(),
    };
    let relays = &relays;
    let connected = match spec.transport {
        Transport::Stdio => {
            hangar_mcp_client::connect(lifecycles, handler, || async {
                Ok(Counted::new(spawn_child(upstream)?, relays.clone()))
            })
            .await
        }
        Transport::StreamableHttp => {
            let headers = header_map(&spec.headers, &upstream.environment)?;
            let url = spec.url.as_deref().unwrap_or_default();
            let own = upstream
                .credentials
                .clone()
                .filter(|c| c.has_own_token())
                .map(|c| c as Arc<dyn Authorizer>);
            let http = AuthorizedHttp::new(upstream.http.clone(), upstream.name(), own);
            hangar_mcp_client::connect(lifecycles, handler, || async {
                // A gateway multiplexes many clients over one upstream connection.
                let transport = streamable_http(http.clone(), url, headers.clone(), Some(256));
                Ok(Counted::new(transport, relays.clone()))
            })
            .await
        }
        Transport::Sse => {
            let headers = header_map(&spec.headers, &upstream.environment)?;
            let url = spec.url.as_deref().unwrap_or_default();
            hangar_mcp_client::connect(lifecycles, handler, || async {
                let transport =
                    SseClientTransport::connect(upstream.http.clone(), url, headers.clone())
                        .await?;
                Ok(Counted::new(transport, relays.clone()))
            })
            .await
        }
    };
    let client = connected.map_err(|e| match spec.transport {
        Transport::Stdio => format!("{e}{}", upstream.output_hint()),
        // Say where: the cause alone ("connection refused") does not.
        Transport::StreamableHttp | Transport::Sse => {
            format!("{}: {e}", spec.url.as_deref().unwrap_or_default())
        }
    })?;
    client
        .peer()
        .set_response_cache_config(rmcp::ClientCacheConfig::disabled())
        .await;
    Ok(client)
}

fn spawn_child(upstream: &Arc<Upstream>) -> Result<StdioChild, String> {
    let spec = &upstream.spec;
    let program = spec.command.as_deref().unwrap_or_default();
    let mut command = crate::child::command(program, &spec.args, &spec.env, &upstream.environment)?;
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    upstream
        .stdout_non_json
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let (transport, stderr) = StdioChild::spawn(command, upstream.stdout_non_json.clone())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("cannot start `{program}`: it was not found; is it installed and on PATH?")
            }
            _ => format!("cannot start `{program}`: {}", error_chain(&e)),
        })?;
    upstream
        .stderr
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    if let Some(stderr) = stderr {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(server = upstream.name(), stderr = %line, "upstream output");
                let mut tail = upstream.stderr.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }
    Ok(transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_preference_picks_the_handshakes_and_sse_only_initializes() {
        use ProtocolPreference::{Auto, Legacy, Modern};
        use Transport::{Sse, Stdio, StreamableHttp};
        for transport in [Stdio, StreamableHttp] {
            assert_eq!(lifecycles(Auto, transport), Lifecycles::auto());
            assert_eq!(lifecycles(Legacy, transport), Lifecycles::legacy());
            assert_eq!(lifecycles(Modern, transport), Lifecycles::modern());
        }
        for protocol in [Auto, Legacy, Modern] {
            assert_eq!(lifecycles(protocol, Sse), Lifecycles::legacy());
        }
    }
}
