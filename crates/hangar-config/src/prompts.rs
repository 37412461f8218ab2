//! The `prompts` section: prompt templates with `{{argument}}` placeholders (MCPPrompt).

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::Role;

/// A prompt template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<PromptArgumentSpec>,
    /// Messages whose text may contain `{{argument}}` placeholders.
    pub messages: Vec<PromptMessageSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptArgumentSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptMessageSpec {
    #[serde(default)]
    pub role: Role,
    pub text: String,
}

impl PromptSpec {
    /// What is wrong with this prompt on its own; `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if self.name.trim().is_empty() {
            problems.push(format!("{at}.name: must not be empty"));
        }
        if self.messages.is_empty() {
            problems.push(format!(
                "{at}.messages: a prompt needs at least one message"
            ));
        }
        let declared: HashSet<&str> = self.arguments.iter().map(|a| a.name.as_str()).collect();
        for (j, message) in self.messages.iter().enumerate() {
            for placeholder in placeholders(&message.text) {
                if !declared.contains(placeholder) {
                    problems.push(format!(
                        "{at}.messages[{j}]: {{{{{placeholder}}}}} is not one of the prompt's arguments"
                    ));
                }
            }
        }
    }
}

/// `{{name}}` placeholders in a template, in order (names trimmed).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        found.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(placeholders("Hi {{ name }}, {{x}} {{"), vec!["name", "x"]);
    }
}
