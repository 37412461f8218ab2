//! Who is calling and what they may see and use.
//!
//! The HTTP layer authenticates each request and attaches an [`Access`]; the
//! MCP handler asks it before listing or calling anything, so an item a caller
//! may not use is also absent from that caller's lists.

use std::net::IpAddr;
use std::sync::Arc;

use hangar_config::glob::glob;
use hangar_config::{AccessRule, AuthorizationDefault, AuthorizationSettings};

/// The caller of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject; `None` when the gateway requires no authentication.
    pub subject: Option<String>,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    /// The peer's address, when the server knows it.
    pub address: Option<IpAddr>,
    /// The token the caller presented, for upstreams that exchange it (RFC 8693).
    pub token: Option<BearerToken>,
}

/// A caller's bearer token; its Debug form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    pub fn new(token: &str) -> Self {
        Self(token.into())
    }

    /// The token itself, for the token endpoint that exchanges it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl Caller {
    /// The name rate limits and session ownership use: the subject, else the address.
    pub fn identity(&self) -> String {
        match (&self.subject, &self.address) {
            (Some(subject), _) => format!("sub:{subject}"),
            (None, Some(address)) => format!("ip:{address}"),
            (None, None) => "anonymous".into(),
        }
    }

    fn describe(&self) -> String {
        match &self.subject {
            Some(subject) => format!("`{subject}`"),
            None => "unauthenticated callers".into(),
        }
    }
}

/// The kinds of items rules grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tool,
    Prompt,
    Resource,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
        }
    }
}

/// What one caller may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub caller: Caller,
    /// `None`: everything. Otherwise glob patterns per kind; empty grants nothing.
    only: Option<Patterns>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Patterns {
    tools: Vec<String>,
    prompts: Vec<String>,
    resources: Vec<String>,
}

impl Access {
    /// Everything, for a gateway without authorization rules.
    pub fn everything(caller: Caller) -> Self {
        Self { caller, only: None }
    }

    /// Nothing: for requests that reach the handler without passing authentication.
    pub fn nothing() -> Self {
        Self {
            caller: Caller::default(),
            only: Some(Patterns::default()),
        }
    }

    /// What the rules grant `caller`: the union of every rule matching it,
    /// or the default when none does.
    pub fn granted(caller: Caller, settings: &AuthorizationSettings) -> Self {
        let matching: Vec<&AccessRule> = settings
            .rules
            .iter()
            .filter(|rule| matches(rule, &caller))
            .collect();
        let only = if matching.is_empty() {
            match settings.default {
                AuthorizationDefault::Allow => None,
                AuthorizationDefault::Deny => Some(Patterns::default()),
            }
        } else {
            let union = |pick: fn(&AccessRule) -> &Vec<String>| {
                matching
                    .iter()
                    .flat_map(|rule| pick(rule).iter().cloned())
                    .collect()
            };
            Some(Patterns {
                tools: union(|r| &r.tools),
                prompts: union(|r| &r.prompts),
                resources: union(|r| &r.resources),
            })
        };
        Self { caller, only }
    }

    /// Whether every item is visible, so lists need no filtering.
    pub fn everything_visible(&self) -> bool {
        self.only.is_none()
    }

    /// Whether the caller may see and use the item `name` (a resource's URI).
    pub fn may_use(&self, kind: Kind, name: &str) -> bool {
        let Some(only) = &self.only else {
            return true;
        };
        let patterns = match kind {
            Kind::Tool => &only.tools,
            Kind::Prompt => &only.prompts,
            Kind::Resource => &only.resources,
        };
        patterns.iter().any(|pattern| glob(pattern, name))
    }

    /// The error for using what the rules do not grant. It reads the same
    /// whether or not the item exists, so it reveals nothing hidden.
    pub fn denied(&self, kind: Kind, name: &str) -> rmcp::ErrorData {
        rmcp::ErrorData::invalid_params(
            format!(
                "{} `{name}` is not available to {}: no authorization rule of this gateway grants it",
                kind.word(),
                self.caller.describe()
            ),
            None,
        )
    }
}

fn matches(rule: &AccessRule, caller: &Caller) -> bool {
    caller
        .subject
        .as_ref()
        .is_some_and(|s| rule.subjects.contains(s))
        || caller.groups.iter().any(|g| rule.groups.contains(g))
        || caller.scopes.iter().any(|s| rule.scopes.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(subject: &str, groups: &[&str], scopes: &[&str]) -> Caller {
        Caller {
            subject: Some(subject.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Caller::default()
        }
    }

    #[test]
    fn rules_grant_the_union_of_what_matches_and_the_default_otherwise() {
        let settings = AuthorizationSettings {
            default: AuthorizationDefault::Deny,
            rules: vec![
                AccessRule {
                    groups: vec!["readers".into()],
                    tools: vec!["*_read".into()],
                    resources: vec!["docs://*".into()],
                    ..Default::default()
                },
                AccessRule {
                    scopes: vec!["admin".into()],
                    tools: vec!["*".into()],
                    prompts: vec!["*".into()],
                    ..Default::default()
                },
                AccessRule {
                    subjects: vec!["ada".into()],
                    prompts: vec!["review".into()],
                    ..Default::default()
                },
            ],
        };
        let reader = Access::granted(caller("bob", &["readers"], &[]), &settings);
        assert!(reader.may_use(Kind::Tool, "files_read"));
        assert!(!reader.may_use(Kind::Tool, "files_write"));
        assert!(reader.may_use(Kind::Resource, "docs://readme"));
        assert!(!reader.may_use(Kind::Prompt, "review"));
        assert!(!reader.everything_visible());

        let ada = Access::granted(caller("ada", &["readers"], &[]), &settings);
        assert!(ada.may_use(Kind::Prompt, "review") && ada.may_use(Kind::Tool, "x_read"));

        let admin = Access::granted(caller("eve", &[], &["admin"]), &settings);
        assert!(admin.may_use(Kind::Tool, "files_write"));
        assert!(!admin.may_use(Kind::Resource, "docs://x"));

        let stranger = Access::granted(caller("mallory", &["others"], &[]), &settings);
        assert!(!stranger.may_use(Kind::Tool, "files_read"));
        let open = AuthorizationSettings {
            default: AuthorizationDefault::Allow,
            ..settings
        };
        let stranger = Access::granted(caller("mallory", &["others"], &[]), &open);
        assert!(stranger.everything_visible());

        let message = reader.denied(Kind::Tool, "files_write").message;
        assert!(
            message.contains("`bob`") && message.contains("tool `files_write`"),
            "{message}"
        );
        assert!(!Access::nothing().may_use(Kind::Tool, "anything"));
    }

    #[test]
    fn identities() {
        assert_eq!(caller("ada", &[], &[]).identity(), "sub:ada");
        let by_address = Caller {
            address: Some("10.0.0.7".parse().unwrap()),
            ..Caller::default()
        };
        assert_eq!(by_address.identity(), "ip:10.0.0.7");
        assert_eq!(Caller::default().identity(), "anonymous");
    }
}
