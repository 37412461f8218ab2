//! A stdio server's transport: its stdin and stdout as JSON-RPC lines
//! (rmcp's line reader and writer), with the first stdout line that is not
//! JSON kept, so a server that prints a banner or logs to stdout is reported
//! as doing so (rmcp skips such lines silently, and the handshake just times out).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

/// Bytes of a non-JSON line kept for the message.
const SHOWN: usize = 120;
/// How long a closing child gets after stdin closes, and after SIGTERM.
const GRACE: Duration = Duration::from_secs(3);

/// The first stdout line of a child that was not JSON, when there was one.
pub type NonJson = Arc<Mutex<Option<String>>>;

pub struct StdioChild {
    transport: AsyncRwTransport<RoleClient, Noticing<ChildStdout>, ChildStdin>,
    /// Killed when dropped (the command is built with `kill_on_drop`).
    child: Option<Child>,
}

impl StdioChild {
    /// Starts `command` with piped stdin, stdout and stderr; returns its stderr to read.
    pub fn spawn(
        mut command: tokio::process::Command,
        non_json: NonJson,
    ) -> std::io::Result<(Self, Option<ChildStderr>)> {
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other(
                "the child's stdin or stdout is missing",
            ));
        };
        let stderr = child.stderr.take();
        let stdout = Noticing {
            inner: stdout,
            line: Vec::new(),
            non_json,
        };
        Ok((
            Self {
                transport: AsyncRwTransport::new_client(stdout, stdin),
                child: Some(child),
            },
            stderr,
        ))
    }
}

impl Transport<RoleClient> for StdioChild {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.transport.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.transport.receive()
    }

    /// Closes stdin and lets the child exit; SIGTERM, then SIGKILL, if it does not.
    async fn close(&mut self) -> Result<(), Self::Error> {
        self.transport.close().await?;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return Ok(());
        }
        if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
            // SAFETY: signalling a child this transport started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
                return Ok(());
            }
        }
        child.kill().await
    }
}

/// Passes a child's stdout through, keeping the start of its first line that
/// does not begin like a JSON-RPC message (`{`).
pub struct Noticing<R> {
    inner: R,
    /// The start of the current line, up to [`SHOWN`] bytes.
    line: Vec<u8>,
    non_json: NonJson,
}

impl<R> Noticing<R> {
    fn look(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.line_done();
            } else if self.line.len() < SHOWN {
                self.line.push(byte);
            }
        }
    }

    fn line_done(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_start_matches('\u{feff}').trim();
        if !text.is_empty() && !text.starts_with('{') {
            let mut seen = self.non_json.lock().unwrap_or_else(|e| e.into_inner());
            if seen.is_none() {
                *seen = Some(text.to_string());
            }
        }
        self.line.clear();
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Noticing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let read = buf.filled()[before..].to_vec();
            if read.is_empty() && !self.line.is_empty() {
                // The end of output: its last line has no newline.
                self.line_done();
            }
            self.look(&read);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn the_first_line_that_is_not_json_is_kept_and_everything_passes_through() {
        let output = "\u{feff}{\"jsonrpc\":\"2.0\"}\n\nStarting server on stdio...\nsecond banner\n{\"id\":1}\nlast";
        let non_json = NonJson::default();
        let mut reader = Noticing {
            inner: output.as_bytes(),
            line: Vec::new(),
            non_json: non_json.clone(),
        };
        let mut passed = String::new();
        reader.read_to_string(&mut passed).await.unwrap();
        assert_eq!(passed, output);
        assert_eq!(
            non_json.lock().unwrap().as_deref(),
            Some("Starting server on stdio...")
        );

        let long = format!("{}\n", "x".repeat(1000));
        let non_json = NonJson::default();
        let mut reader = Noticing {
            inner: long.as_bytes(),
            line: Vec::new(),
            non_json: non_json.clone(),
        };
        reader.read_to_string(&mut String::new()).await.unwrap();
        assert_eq!(non_json.lock().unwrap().as_ref().unwrap().len(), SHOWN);
    }
}
