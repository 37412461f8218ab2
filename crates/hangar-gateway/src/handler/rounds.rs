//! Input rounds for stateless clients of 2025-era servers. Such a server asks
//! for input (sampling, elicitation, roots) with a request in the middle of a
//! call, but a 2026-07-28 client can only be asked with an
//! `InputRequiredResult`, which it answers by calling again. So the gateway
//! keeps the server's call running, returns the question as an
//! `InputRequiredResult` whose `requestState` names the waiting call, and
//! gives the server its answer when the same caller calls the same item again
//! with that state. A waiting call lives in this replica only, until the
//! server's own timeout for the call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ErrorData;
use rmcp::model::{
    ClientResult, CreateMessageRequest, ElicitRequest, InputRequest, InputRequiredResult,
    InputResponses, ListRootsRequest, ServerRequest, ServerResult,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use crate::upstream::{AskedInput, Downstream, Failure, Upstream};

use super::forward::Forwarded;

/// Marks the gateway's own `requestState` values.
const STATE_PREFIX: &str = "hangar-input:";
/// The key of the one question each round asks.
const QUESTION: &str = "input";
/// Most calls waiting for their client's answer at once.
const MOST_WAITING: usize = 10_000;

/// The calls waiting for a stateless client's answer, by `requestState`.
#[derive(Default)]
pub struct InputRounds {
    waiting: Mutex<HashMap<String, Waiting>>,
}

/// A call whose server asked a question the client has yet to answer.
struct Waiting {
    /// The caller's token subject, and what was called: only the same call resumes it.
    caller: Option<String>,
    item: String,
    expires: Instant,
    question: AskedInput,
    call: RunningCall,
}

/// A server's call run apart from the client's request, which ends at each round.
pub(super) struct RunningCall {
    result: JoinHandle<Result<ServerResult, Failure>>,
    asks: mpsc::Receiver<AskedInput>,
    /// Cancels the server's call when the call is dropped unfinished.
    _cancel: DropGuard,
    /// How long the server waits for the call (the longest an answer may take).
    timeout: Duration,
}

impl RunningCall {
    pub(super) fn start(upstream: Arc<Upstream>, call: Forwarded, downstream: Downstream) -> Self {
        let (asked, asks) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        let downstream = Downstream {
            asks: Some(asked),
            cancel: cancel.clone(),
            ..downstream
        };
        let timeout = upstream.timeout();
        // Its logs keep the request's id: it runs in the request's span.
        // Boxed, spawning moves a pointer, not the call's state (`boxed_work`).
        let result = tokio::spawn(
            super::boxed_work(async move { call.send_to(&upstream, downstream).await })
                .instrument(tracing::Span::current()),
        );
        Self {
            result,
            asks,
            _cancel: cancel.drop_guard(),
            timeout,
        }
    }

    /// The call's result, or its server's next question as an
    /// `InputRequiredResult` (the call then waits in `rounds`). A client that
    /// goes away (`client_gone`) cancels the call.
    pub(super) async fn next(
        mut self,
        rounds: &InputRounds,
        caller: Option<String>,
        item: String,
        client_gone: &CancellationToken,
    ) -> Result<ServerResult, Failure> {
        loop {
            let question = tokio::select! {
                result = &mut self.result => {
                    return result.unwrap_or_else(|e| {
                        Err(Failure::Gateway(format!("the call to the server ended abnormally: {e}")))
                    });
                }
                Some(question) = self.asks.recv() => question,
                _ = client_gone.cancelled() => {
                    return Err(Failure::Gateway("the client cancelled the request".into()));
                }
            };
            let input = match input_request(&question.request) {
                Ok(input) => input,
                Err(error) => {
                    let _ = question.answer.send(Err(error));
                    continue;
                }
            };
            let state = rounds.park(Waiting {
                caller,
                item,
                expires: Instant::now() + self.timeout,
                question,
                call: self,
            })?;
            return Ok(ServerResult::InputRequiredResult(InputRequiredResult::new(
                Some(BTreeMap::from([(QUESTION.to_string(), input)])),
                Some(state),
            )));
        }
    }
}

impl InputRounds {
    /// Whether `state` is one of the gateway's (not an upstream's own).
    pub(super) fn is_ours(state: &str) -> bool {
        state.starts_with(STATE_PREFIX)
    }

    /// The waiting calls, without those whose server has stopped waiting.
    fn current(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        let mut calls = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        calls.retain(|_, w| w.expires > now);
        calls
    }

    fn park(&self, waiting: Waiting) -> Result<String, Failure> {
        let mut calls = self.current();
        if calls.len() >= MOST_WAITING {
            return Err(Failure::Gateway(format!(
                "{MOST_WAITING} calls already wait for their clients' input; try again later"
            )));
        }
        let state = format!("{STATE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        calls.insert(state.clone(), waiting);
        Ok(state)
    }

    /// Gives the waiting call named by `state` the client's answer and
    /// returns the call, to wait for what comes next.
    pub(super) fn answer(
        &self,
        state: &str,
        caller: &Option<String>,
        item: &str,
        responses: Option<&InputResponses>,
    ) -> Result<RunningCall, ErrorData> {
        let waiting = {
            let mut calls = self.current();
            match calls.get(state) {
                Some(w) if w.caller == *caller && w.item == item => calls.remove(state),
                _ => None,
            }
        };
        let Some(waiting) = waiting else {
            return Err(ErrorData::invalid_params(
                "this requestState names no call waiting here for input: it expired with the \
                 server's timeout, belongs to another call or caller, or was made by another \
                 gateway replica; call again without it",
                None,
            ));
        };
        let answer = responses
            .and_then(|r| r.get(QUESTION))
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("inputResponses has no answer for `{QUESTION}`"),
                    None,
                )
            })
            .and_then(|value| client_result(&waiting.question.request, value.clone()));
        // A bad answer goes to the server as an error, as a session client's would.
        let _ = waiting.question.answer.send(answer);
        Ok(waiting.call)
    }
}

/// A server's request as the question of an `InputRequiredResult`.
fn input_request(request: &ServerRequest) -> Result<InputRequest, ErrorData> {
    match request {
        ServerRequest::CreateMessageRequest(r) => Ok(InputRequest::CreateMessage(
            CreateMessageRequest::new(r.params.clone()),
        )),
        ServerRequest::ElicitRequest(r) => Ok(InputRequest::Elicitation(ElicitRequest::new(
            r.params.clone(),
        ))),
        ServerRequest::ListRootsRequest(_) => {
            Ok(InputRequest::ListRoots(ListRootsRequest::default()))
        }
        _ => Err(ErrorData::invalid_request(
            "the gateway relays only sampling, elicitation and roots requests",
            None,
        )),
    }
}

/// The client's answer, as the result type of the question it answers.
fn client_result(
    question: &ServerRequest,
    answer: serde_json::Value,
) -> Result<ClientResult, ErrorData> {
    let invalid = |e: serde_json::Error| {
        ErrorData::invalid_params(
            format!("the client's answer is not a valid result: {e}"),
            None,
        )
    };
    Ok(match question {
        ServerRequest::CreateMessageRequest(_) => ClientResult::CreateMessageResult(Box::new(
            serde_json::from_value(answer).map_err(invalid)?,
        )),
        ServerRequest::ElicitRequest(_) => {
            ClientResult::ElicitResult(serde_json::from_value(answer).map_err(invalid)?)
        }
        _ => ClientResult::ListRootsResult(serde_json::from_value(answer).map_err(invalid)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling() -> ServerRequest {
        serde_json::from_value(serde_json::json!({
            "method": "sampling/createMessage",
            "params": {"messages": [], "maxTokens": 10}
        }))
        .unwrap()
    }

    #[test]
    fn answers_become_the_result_type_of_their_question() {
        let answer = serde_json::json!({"role": "assistant", "model": "m",
            "content": {"type": "text", "text": "Paris"}});
        assert!(matches!(
            client_result(&sampling(), answer),
            Ok(ClientResult::CreateMessageResult(_))
        ));
        let refused =
            client_result(&sampling(), serde_json::json!({"nonsense": true})).unwrap_err();
        assert!(
            refused.message.contains("not a valid result"),
            "{refused:?}"
        );
        assert!(matches!(
            input_request(&sampling()),
            Ok(InputRequest::CreateMessage(_))
        ));
        let ping: ServerRequest =
            serde_json::from_value(serde_json::json!({"method": "ping"})).unwrap();
        assert!(input_request(&ping).is_err());
    }

    #[test]
    fn a_state_that_names_no_waiting_call_says_so() {
        let rounds = InputRounds::default();
        assert!(InputRounds::is_ours("hangar-input:0123"));
        assert!(!InputRounds::is_ours("an upstream's own state"));
        let refused = match rounds.answer("hangar-input:0123", &None, "tool x", None) {
            Err(refused) => refused,
            Ok(_) => panic!("an unknown state resumed a call"),
        };
        assert!(
            refused.message.contains("names no call waiting here"),
            "{refused:?}"
        );
    }
}
