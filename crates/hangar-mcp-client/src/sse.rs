//! Client side of the 2024-11-05 HTTP+SSE transport, for upstreams that
//! predate Streamable HTTP: one long GET carries server messages as SSE
//! `message` events after an `endpoint` event names where to POST ours.

use futures::StreamExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RoleClient;
use rmcp::transport::Transport;
use sse_stream::SseStream;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error_chain;

pub struct SseClientTransport {
    client: reqwest::Client,
    endpoint: url::Url,
    headers: http::HeaderMap,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    _reader: DropGuard,
}

impl SseClientTransport {
    /// Opens the event stream and waits for the server to name its POST endpoint.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: http::HeaderMap,
    ) -> Result<Self, String> {
        let base = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let response = client
            .get(base.clone())
            .headers(headers.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| format!("cannot open the SSE stream at {url}: {}", error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!(
                "the SSE stream at {url} answered HTTP {}",
                response.status()
            ));
        }
        let mut events = SseStream::from_bytes_stream(response.bytes_stream());
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    let target = event.data.unwrap_or_default();
                    break base.join(target.trim()).map_err(|e| {
                        format!("the server named an unusable endpoint `{target}`: {e}")
                    })?;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading the SSE stream at {url} failed: {e}")),
                None => {
                    return Err(format!(
                        "the SSE stream at {url} ended before naming an endpoint"
                    ));
                }
            }
        };
        let (tx, incoming) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let reader_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = reader_stop.cancelled() => break,
                    event = events.next() => event,
                };
                match event {
                    Some(Ok(event)) if matches!(event.event.as_deref(), None | Some("message")) => {
                        let Some(data) = event.data else { continue };
                        match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                            Ok(message) => {
                                if tx.send(message).await.is_err() {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring an unreadable SSE message")
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    // Dropping the sender ends the session, which reconnects.
                    Some(Err(_)) | None => break,
                }
            }
        });
        Ok(Self {
            client,
            endpoint,
            headers,
            incoming,
            _reader: stop.drop_guard(),
        })
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(&item);
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| std::io::Error::other(error_chain(&e)))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "the server answered HTTP {}",
                    response.status()
                )))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.incoming.close();
        Ok(())
    }
}
