//! `tools/call`, the request the hot path serves most, parsed in one pass.
//!
//! rmcp's [`ClientJsonRpcMessage`] is untagged twice over: it buffers the
//! body, tries each message shape, then each of some twenty request types in
//! turn, `tools/call` the fourteenth. That is ~4 µs for a small call against
//! ~1.8 µs here. [`parse`] takes a body only when the generic parse would give
//! the same message; anything else is left to it (`None`).

use rmcp::model::{
    CallToolRequest, ClientJsonRpcMessage, ClientRequest, JsonRpcRequest, JsonRpcVersion2_0,
    RequestId,
};
use serde::Deserialize;

/// The body as a `tools/call` request, or `None` for the generic parse.
pub fn parse(bytes: &[u8]) -> Option<ClientJsonRpcMessage> {
    // Anything else fails below, after buffering: not worth trying.
    memchr::memmem::find(bytes, METHOD)?;
    let call: Call = serde_json::from_slice(bytes).ok()?;
    // A message with a result or an error is no request (rmcp refuses it).
    if call.result || call.error {
        return None;
    }
    Some(ClientJsonRpcMessage::Request(JsonRpcRequest {
        jsonrpc: call.jsonrpc,
        id: call.id,
        request: ClientRequest::CallToolRequest(call.request),
    }))
}

const METHOD: &[u8] = b"tools/call";

#[derive(Deserialize)]
struct Call {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    /// Present at all, even as `null`.
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
    /// `method` (which must be `tools/call`) and `params`.
    #[serde(flatten)]
    request: CallToolRequest,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(value)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use hangar_testenv::fuzz::{self, Unstructured};
    use serde_json::{Value, json};

    fn generic(bytes: &[u8]) -> Option<Value> {
        serde_json::from_slice::<super::ClientJsonRpcMessage>(bytes)
            .ok()
            .map(|message| serde_json::to_value(message).expect("serialisable"))
    }

    /// Whenever `parse` takes a body, the generic parse gives the same message.
    fn agrees(bytes: &[u8]) -> bool {
        let Some(fast) = super::parse(bytes) else {
            return false;
        };
        let fast = serde_json::to_value(fast).expect("serialisable");
        assert_eq!(
            Some(&fast),
            generic(bytes).as_ref(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
        true
    }

    fn call() -> Value {
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "hi", "n": 1.5, "list": [1, null]},
            "_meta": {"progressToken": "p", "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})
    }

    #[test]
    fn calls_parse_as_the_generic_parse_does() {
        for body in [
            call(),
            json!({"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "x"}}),
            json!({"method": "tools/call", "params": {"name": "x", "arguments": {}}, "id": 0, "jsonrpc": "2.0", "extra": 1}),
        ] {
            assert!(agrees(body.to_string().as_bytes()), "{body}");
        }
    }

    #[test]
    fn what_is_not_exactly_a_call_is_left_to_the_generic_parse() {
        let mut cases = Vec::new();
        for (key, value) in [
            ("result", Value::Null),
            ("error", json!({"code": 1, "message": "m"})),
            ("jsonrpc", json!("1.0")),
            ("method", json!("tools/list")),
            ("params", json!({"arguments": {}})),
            ("params", json!({"name": "x", "arguments": [1]})),
        ] {
            let mut body = call();
            body[key] = value;
            cases.push(body.to_string());
        }
        let mut without_id = call();
        without_id.as_object_mut().expect("an object").remove("id");
        cases.push(without_id.to_string());
        cases.push(
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"x"}}"#.into(),
        );
        cases.push(
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#.into(),
        );
        for body in cases {
            assert!(super::parse(body.as_bytes()).is_none(), "{body}");
        }
    }

    fn mutated(u: &mut Unstructured<'_>) -> fuzz::Result<Vec<u8>> {
        let mut body = call();
        for _ in 0..u.int_in_range(0..=4)? {
            let key = *u.choose(&[
                "jsonrpc",
                "id",
                "method",
                "params",
                "result",
                "error",
                "name",
                "arguments",
                "_meta",
                "task",
            ])?;
            let value = match u.int_in_range(0..=6)? {
                0 => Value::Null,
                1 => json!(u.arbitrary::<i64>()?),
                2 => json!(u.arbitrary::<String>()?),
                3 => {
                    serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number)
                }
                4 => json!({"name": u.arbitrary::<String>()?}),
                5 => json!([u.arbitrary::<bool>()?]),
                _ => json!("tools/call"),
            };
            let inside = u.arbitrary::<bool>()?;
            let target = if inside {
                &mut body["params"]
            } else {
                &mut body
            };
            if let Some(object) = target.as_object_mut() {
                if u.arbitrary::<bool>()? {
                    object.remove(key);
                } else {
                    object.insert(key.into(), value);
                }
            }
        }
        let mut bytes = body.to_string().into_bytes();
        // Now and then, bytes the JSON writer would never produce.
        if u.ratio(1, 4)? && !bytes.is_empty() {
            let at = u.choose_index(bytes.len())?;
            bytes[at] = u.arbitrary()?;
        }
        Ok(bytes)
    }

    #[test]
    fn fuzz_a_call_is_taken_only_as_the_generic_parse_takes_it() {
        let mut taken = 0u64;
        fuzz::run("tools/call messages", |u| {
            let bytes = mutated(u)?;
            taken += u64::from(agrees(&bytes));
            Ok(())
        });
        let replay = std::env::var_os("ARBTEST_SEED").is_some();
        assert!(replay || taken > 0, "no input was a call");
        println!("of which {taken} were calls");
    }
}
