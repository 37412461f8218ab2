//! Forwarding one request: through the circuit breaker, waking a
//! scale-to-zero server first, relaying its progress and logs while it runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, CompleteRequest, CompleteRequestParams,
    GetExtensions, GetPromptRequest, GetPromptRequestParams, ProgressToken, ReadResourceRequest,
    ReadResourceRequestParams, RequestId, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};

use super::link::Link;
use super::{Downstream, Failure, Status, Upstream};

/// Longest a result waits for its progress notifications to be relayed.
const PROGRESS_RELAY_LIMIT: Duration = Duration::from_secs(5);

impl Upstream {
    /// Forwards one request through the circuit breaker, waking a
    /// scale-to-zero server first, and waits for its result.
    async fn request(
        &self,
        request: ClientRequest,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        let permit = self.admit()?;
        if let Err(failure) = self.wake().await {
            permit.failed(&failure);
            return Err(failure);
        }
        if !matches!(self.read().status, Status::Ready { .. }) {
            // Known to be down: nothing was sent, so the breaker learns nothing.
            return Err(self.unavailable());
        }
        let result = self.send(request, downstream).await;
        permit.settle(&result);
        if let Some(demand) = &self.demand {
            // idleTTL counts from the end of the last call.
            *demand.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        result
    }

    /// Sends one request and waits for its result, relaying progress and
    /// logs to the client while it runs.
    async fn send(
        &self,
        request: ClientRequest,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        let own = match &downstream.session {
            Some(client) => self.own_session(client).await,
            None => None,
        };
        let (peer, modern, link) = match own {
            // Opened in the client's own, session-based era.
            Some((peer, link)) => (peer, false, link),
            None => {
                let state = self.read();
                match (&state.status, &state.peer) {
                    (Status::Ready { .. }, Some(peer)) => {
                        (peer.clone(), state.modern, self.shared_link.clone())
                    }
                    _ => {
                        drop(state);
                        return Err(self.unavailable());
                    }
                }
            }
        };
        let mut meta = downstream.meta.clone();
        if modern {
            // The stateless revision carries the client's context per request;
            // pass the real client's, not the gateway's, so capability checks hold.
            meta.set_client_capabilities(downstream.capabilities.clone());
            if let Some(level) = downstream.log_level {
                meta.set_log_level(level);
            }
        }
        let mut request = request;
        if let Some(credentials) = &self.credentials {
            match credentials.for_call(&downstream.access.caller).await {
                Ok(Some(call)) => {
                    request.extensions_mut().insert(call);
                }
                Ok(None) => {}
                // The caller's own problem: the server is not failing.
                Err(why) => {
                    return Err(Failure::Gateway(format!(
                        "MCP server {}: the gateway has no credentials for this caller: {why}",
                        self.name()
                    )));
                }
            }
        }
        let mut options = PeerRequestOptions::with_timeout(self.timeout);
        options.meta = Some(meta);
        let downstream = Arc::new(downstream);
        let handle = match peer.send_request_with_option(request, options).await {
            Ok(handle) => handle,
            Err(error) => return Err(self.transport_failure(error)),
        };
        let request_id = handle.id.clone();
        let progress_token = handle.progress_token.clone();
        link.begin(
            request_id.clone(),
            progress_token.clone(),
            downstream.clone(),
        );
        let _cleanup = RouteGuard {
            link: &link,
            request_id: request_id.clone(),
            progress_token: progress_token.clone(),
        };
        tokio::select! {
            result = handle.await_response() => {
                // Progress the server sent before its result reaches the client first.
                link.relays.settled(&progress_token, PROGRESS_RELAY_LIMIT).await;
                result.map(mark_complete).map_err(|e| self.transport_failure(e))
            }
            _ = downstream.cancel.cancelled() => {
                let _ = peer.notify_cancelled(rmcp::model::CancelledNotificationParam::new(
                    Some(request_id),
                    Some("the client cancelled the request".into()),
                )).await;
                Err(Failure::Gateway("the client cancelled the request".into()))
            }
        }
    }

    pub(super) fn transport_failure(&self, error: ServiceError) -> Failure {
        match error {
            ServiceError::McpError(error) => Failure::Rpc(error),
            ServiceError::Timeout { timeout } => {
                self.metrics.upstream_error(self.name(), "timeout");
                Failure::Unavailable(format!(
                    "MCP server {} did not answer within {}",
                    self.name(),
                    hangar_config::DurationSpec(timeout)
                ))
            }
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                self.metrics.upstream_error(self.name(), "transport");
                Failure::Unavailable(format!(
                    "the connection to MCP server {} was lost during the call{}",
                    self.name(),
                    self.output_hint()
                ))
            }
            other => {
                self.metrics.upstream_error(self.name(), "protocol");
                Failure::Unavailable(format!("MCP server {} failed: {other}", self.name()))
            }
        }
    }

    /// What a stdio child wrote that explains a failure: stdout lines that
    /// are not JSON-RPC first (they break the protocol), else its last
    /// stderr line.
    pub(super) fn output_hint(&self) -> String {
        let non_json = self
            .stdout_non_json
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(line) = non_json {
            return format!(
                " (it wrote to stdout what is not JSON-RPC: {line:?}; stdout carries MCP messages only, logs belong on stderr)"
            );
        }
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match lines.back() {
            Some(last) => format!(" (its last output: {last})"),
            None => String::new(),
        }
    }

    pub async fn call_tool(
        &self,
        mut params: CallToolRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn get_prompt(
        &self,
        mut params: GetPromptRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::GetPromptRequest(GetPromptRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn read_resource(
        &self,
        mut params: ReadResourceRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn complete(
        &self,
        mut params: CompleteRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::CompleteRequest(CompleteRequest::new(params)),
            downstream,
        )
        .await
    }
}

/// Results from servers on the session-based revisions carry no `resultType`;
/// stateless clients require it (the SDK strips it again for session clients).
fn mark_complete(mut result: ServerResult) -> ServerResult {
    let result_type = match &mut result {
        ServerResult::CallToolResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::CompleteResult(r) => &mut r.result_type,
        _ => return result,
    };
    result_type.get_or_insert(rmcp::model::ResultType::COMPLETE);
    result
}

/// Ends the call's routes on its link, however the call ends.
struct RouteGuard<'a> {
    link: &'a Link,
    request_id: RequestId,
    progress_token: ProgressToken,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.link.end(&self.request_id, &self.progress_token);
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, ContentBlock, ListToolsResult, ResultType};

    use super::*;

    #[test]
    fn results_of_session_based_servers_are_marked_complete_and_others_kept() {
        let ServerResult::CallToolResult(result) =
            mark_complete(ServerResult::CallToolResult(CallToolResult::success(vec![
                ContentBlock::text("hi"),
            ])))
        else {
            panic!("still a tool result")
        };
        assert_eq!(result.result_type, Some(ResultType::COMPLETE));
        let listed = mark_complete(ServerResult::ListToolsResult(ListToolsResult::default()));
        assert!(matches!(listed, ServerResult::ListToolsResult(_)));
    }
}
