//! The calls that leave an audit record and count in the per-tool metrics:
//! `tools/call`, `prompts/get` and `resources/read`.

use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, GetPromptResponse, JsonObject, ReadResourceResponse};
use rmcp::service::{RequestContext, RoleServer};

use crate::audit::{self, Arguments, Attempt, Outcome, Trail, Verdict};

use super::GatewayHandler;
use super::forward::{correlation_id, session_id};

/// An answer the audit can judge.
pub(super) trait Answer {
    /// The tool ran (or could not be reached) and said it failed.
    fn is_tool_error(&self) -> bool {
        false
    }
}

impl Answer for CallToolResponse {
    fn is_tool_error(&self) -> bool {
        matches!(self, CallToolResponse::Complete(result) if result.is_error == Some(true))
    }
}
impl Answer for GetPromptResponse {}
impl Answer for ReadResourceResponse {}

/// The call being audited, as the client sent it.
pub(super) struct Audited<'a> {
    pub method: &'static str,
    pub name: &'a str,
    pub arguments: Option<Arguments>,
}

impl GatewayHandler {
    /// What the audit record of a call with `arguments` says of them, when there are records.
    pub(super) fn audited_arguments(&self, arguments: Option<&JsonObject>) -> Option<Arguments> {
        self.gateway.auditor()?.arguments(arguments)
    }

    /// Runs `work`, then counts the call and writes its audit record.
    ///
    /// `work` goes to the heap at once (see `boxed_work`).
    pub(super) fn audited<T: Answer>(
        &self,
        call: Audited<'_>,
        context: &RequestContext<RoleServer>,
        work: impl Future<Output = Result<T, ErrorData>>,
    ) -> impl Future<Output = Result<T, ErrorData>> {
        let work = super::boxed_work(work);
        async move {
            let started = Instant::now();
            let (result, trail) = audit::traced(work).await;
            let elapsed = started.elapsed();
            let access = self.access(context);
            let request_id = correlation_id(context);
            self.gateway.account(
                &Attempt {
                    method: call.method,
                    name: call.name,
                    arguments: call.arguments,
                    caller: &access.caller,
                    session_id: session_id(context),
                    request_id: &request_id,
                },
                &Verdict {
                    outcome: judge(&result, &trail),
                    error_code: result.as_ref().err().map(|e| e.code.0),
                    trail,
                    elapsed,
                },
                true,
            );
            result
        }
    }
}

fn judge<T: Answer>(result: &Result<T, ErrorData>, trail: &Trail) -> Outcome {
    match result {
        Ok(answer) if !answer.is_tool_error() => Outcome::Ok,
        _ if trail.denied => Outcome::Denied,
        _ if trail.circuit_open => Outcome::CircuitOpen,
        Ok(_) => Outcome::ToolError,
        Err(_) => Outcome::RpcError,
    }
}
