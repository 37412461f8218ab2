//! Config section `audit`: one record per tool call, prompt fetch and
//! resource read, written apart from the gateway's own logs.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::is_default;

/// Where audit records go and what they hold. Each record is one JSON line
/// with `"target": "hangar::audit"`; argument values appear only when
/// `includeArguments` is set (a SHA-256 of them otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditSettings {
    /// Write records to standard output (the gateway's logs go to standard error).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub stdout: bool,
    /// Also append records to this file (created when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Put the call's arguments in each record, not only their digest.
    #[serde(default, skip_serializing_if = "is_default")]
    pub include_arguments: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            stdout: true,
            file: None,
            include_arguments: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl AuditSettings {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if !self.stdout && self.file.is_none() {
            problems.push(
                "audit: stdout is false and no file is set, so records would go nowhere; \
                 set audit.file or remove the audit section"
                    .into(),
            );
        }
        if self
            .file
            .as_ref()
            .is_some_and(|file| file.as_os_str().is_empty())
        {
            problems.push("audit.file: must not be empty".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_must_go_somewhere() {
        let mut problems = Vec::new();
        AuditSettings {
            stdout: false,
            ..AuditSettings::default()
        }
        .problems(&mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("records would go nowhere"));

        let mut problems = Vec::new();
        AuditSettings {
            stdout: false,
            file: Some("/var/log/hangar/audit.jsonl".into()),
            include_arguments: true,
        }
        .problems(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
