//! Failures in words a person can act on: the cause (a refused connection, a
//! timeout, a server that closed), never the transport's Rust type names that
//! rmcp's own messages carry.

use rmcp::service::ClientInitializeError;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::worker::WorkerQuitReason;

/// An error and its causes on one line (reqwest hides the useful part in sources).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(|e| e.source());
    }
    text
}

/// Why a handshake failed: what went wrong, and during which step.
pub fn handshake_failure(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, context } => {
            format!(
                "{} (while it {})",
                cause(error.error.as_ref()),
                step(context)
            )
        }
        ClientInitializeError::ConnectionClosed(during) => {
            format!("the server closed the connection during the handshake ({during})")
        }
        other => other.to_string(),
    }
}

/// The innermost cause of a transport error, in words.
pub fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return io_words(io);
        }
        if error
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return "timed out".into();
        }
        current = inner(error);
    }
    error_chain(error)
}

type HttpError = StreamableHttpError<reqwest::Error>;

/// The error inside `error`: its source, or what rmcp's HTTP client errors
/// hold without naming it as their source.
fn inner<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(HttpError::Client(client)) = error.downcast_ref::<HttpError>() {
        return Some(client);
    }
    if let Some(WorkerQuitReason::Fatal { error, .. }) =
        error.downcast_ref::<WorkerQuitReason<HttpError>>()
    {
        return Some(error);
    }
    error.source()
}

fn io_words(error: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match error.kind() {
        ConnectionRefused => "connection refused (nothing listens there)".into(),
        ConnectionReset => "the connection was reset".into(),
        ConnectionAborted => "the connection was aborted".into(),
        TimedOut => "timed out".into(),
        BrokenPipe => "the server stopped reading (broken pipe)".into(),
        UnexpectedEof => "the server closed the connection".into(),
        HostUnreachable | NetworkUnreachable => "the host cannot be reached".into(),
        _ => {
            let text = error.to_string();
            // "… (os error 111)" adds nothing a person can use.
            match text.rsplit_once(" (os error ") {
                Some((words, _)) => words.to_string(),
                None => text,
            }
        }
    }
}

/// rmcp's step names ("send initialize request") as a clause.
fn step(context: &str) -> String {
    match context.strip_prefix("send ") {
        Some(rest) => format!("sent the {rest}"),
        None => format!("was at: {context}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_causes_are_words_without_os_error_numbers() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            cause(&refused),
            "connection refused (nothing listens there)"
        );
        let other = std::io::Error::from_raw_os_error(2);
        assert_eq!(cause(&other), "No such file or directory");
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Transport [some::Type<Inner>] error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = Wrapper(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(cause(&wrapped), "timed out");
    }

    #[test]
    fn a_failed_handshake_names_the_cause_and_the_step() {
        let error = ClientInitializeError::TransportError {
            error: rmcp::transport::DynamicTransportError::from_parts(
                "some::Transport<Type>",
                std::any::TypeId::of::<u8>(),
                Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            ),
            context: "send initialize request".into(),
        };
        let words = handshake_failure(&error);
        assert_eq!(
            words,
            "connection refused (nothing listens there) (while it sent the initialize request)"
        );
        assert!(!words.contains("::"));
    }
}
