//! Where a Secret's values may be sent: the Secret's owner lists the
//! destinations in the annotation [`ALLOWED_DESTINATIONS_ANNOTATION`], and
//! Hangar sends a header value read from the Secret (MCPServer, MCPTool,
//! MCPResource and MCPRegistry `headers[].valueFrom`) only to a URL it lists.
//!
//! Whoever may create those objects chooses the URL; only whoever may write
//! the Secret chooses where its values go. Without the annotation a Secret's
//! values go nowhere.

use std::collections::BTreeMap;

use url::Url;

/// Annotation on a Secret: the URLs its values may be sent to as headers,
/// separated by commas or whitespace, e.g.
/// `https://api.github.com, https://mcp.acme.dev/tools/`. A URL allows its
/// scheme, host and port, and every path under its own (`/tools` allows
/// `/tools` and `/tools/…`, not `/toolsx`). A host `*.acme.dev` allows every
/// subdomain of `acme.dev`.
pub const ALLOWED_DESTINATIONS_ANNOTATION: &str = "mcp-hangar.io/allowed-destinations";

/// The destinations one Secret allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedDestinations {
    allowed: Vec<Allowed>,
    /// Entries of the annotation that are not http(s) URLs: they allow nothing.
    pub invalid: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    scheme: String,
    host: Host,
    port: Option<u16>,
    path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Exactly(String),
    /// `*.suffix`: any host ending in `.suffix`.
    Under(String),
}

impl AllowedDestinations {
    /// What a Secret with these annotations allows.
    pub fn of(annotations: &BTreeMap<String, String>) -> Self {
        annotations
            .get(ALLOWED_DESTINATIONS_ANNOTATION)
            .map(|text| Self::parse(text))
            .unwrap_or_default()
    }

    /// The annotation's value, read.
    pub fn parse(text: &str) -> Self {
        let mut destinations = Self::default();
        for entry in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            match Allowed::parse(entry) {
                Some(allowed) => destinations.allowed.push(allowed),
                None => destinations.invalid.push(entry.to_string()),
            }
        }
        destinations
    }

    /// Whether a value may be sent to `destination`.
    pub fn allows(&self, destination: &str) -> bool {
        let Ok(url) = Url::parse(destination) else {
            return false;
        };
        self.allowed.iter().any(|allowed| allowed.allows(&url))
    }

    /// `Ok` when a value of `secret` may be sent to `destination`, else why not.
    pub fn check(&self, secret: &str, destination: &str) -> Result<(), NotAllowed> {
        if self.allows(destination) {
            return Ok(());
        }
        Err(NotAllowed {
            secret: secret.to_string(),
            destination: destination.to_string(),
            invalid: self.invalid.clone(),
        })
    }
}

impl Allowed {
    fn parse(entry: &str) -> Option<Self> {
        // `*` is not a host character: read `*.acme.dev` as a placeholder host.
        let (text, wildcard) = match entry.split_once("://*.") {
            Some((scheme, rest)) => (format!("{scheme}://wildcard.{rest}"), true),
            None => (entry.to_string(), false),
        };
        let url = Url::parse(&text).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return None;
        }
        let host = url.host_str()?.to_string();
        let host = match wildcard {
            true => Host::Under(host.strip_prefix("wildcard.")?.to_string()),
            false => Host::Exactly(host),
        };
        Some(Allowed {
            scheme: url.scheme().to_string(),
            host,
            port: url.port_or_known_default(),
            path: url.path().to_string(),
        })
    }

    fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host_ok = match &self.host {
            Host::Exactly(allowed) => host == allowed,
            Host::Under(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        };
        let path = url.path();
        let path_ok = self.path == "/"
            || path == self.path
            || self.path.ends_with('/') && path.starts_with(&self.path)
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        url.scheme() == self.scheme
            && host_ok
            && url.port_or_known_default() == self.port
            && path_ok
    }
}

/// A Secret's value was to be sent where the Secret does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAllowed {
    pub secret: String,
    pub destination: String,
    pub invalid: Vec<String>,
}

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret {} does not allow sending its values to {}: its owner lists where they may go \
             in its annotation {ALLOWED_DESTINATIONS_ANNOTATION}",
            self.secret, self.destination
        )?;
        if !self.invalid.is_empty() {
            write!(
                f,
                " (these entries are not http(s) URLs: {})",
                self.invalid.join(", ")
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for NotAllowed {}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(annotation: &str) -> AllowedDestinations {
        AllowedDestinations::of(&BTreeMap::from([(
            ALLOWED_DESTINATIONS_ANNOTATION.to_string(),
            annotation.to_string(),
        )]))
    }

    #[test]
    fn without_the_annotation_nothing_is_allowed() {
        let none = AllowedDestinations::of(&BTreeMap::new());
        assert!(!none.allows("https://api.github.com/"));
        let error = none.check("token", "https://evil.example/").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("token") && text.contains("https://evil.example/"),
            "{text}"
        );
        assert!(text.contains(ALLOWED_DESTINATIONS_ANNOTATION), "{text}");
    }

    #[test]
    fn a_url_allows_its_origin_and_the_paths_under_it() {
        let a = allowed("https://api.github.com, https://mcp.acme.dev/tools");
        for yes in [
            "https://api.github.com",
            "https://api.github.com/mcp",
            "https://API.GitHub.com:443/x?y=1",
            "https://mcp.acme.dev/tools",
            "https://mcp.acme.dev/tools/search/mcp",
        ] {
            assert!(a.allows(yes), "{yes}");
        }
        for no in [
            "http://api.github.com/",
            "https://api.github.com:8443/",
            "https://api.github.com.evil.example/",
            "https://evil.example/?https://api.github.com",
            "https://user@evil.example/",
            "https://mcp.acme.dev/",
            "https://mcp.acme.dev/toolsx",
            "https://mcp.acme.dev/other/tools",
            "not a url",
        ] {
            assert!(!a.allows(no), "{no}");
        }
    }

    #[test]
    fn a_trailing_slash_allows_what_is_under_it_only() {
        let a = allowed("http://registry.team.svc:8080/v0/");
        assert!(a.allows("http://registry.team.svc:8080/v0/servers"));
        assert!(!a.allows("http://registry.team.svc:8080/v0"));
        assert!(!a.allows("http://registry.team.svc:8081/v0/servers"));
    }

    #[test]
    fn a_wildcard_host_allows_subdomains_only() {
        let a = allowed("https://*.acme.dev");
        assert!(a.allows("https://mcp.acme.dev/x"));
        assert!(a.allows("https://a.b.acme.dev/"));
        assert!(!a.allows("https://acme.dev/"));
        assert!(!a.allows("https://evilacme.dev/"));
        assert!(!a.allows("https://acme.dev.evil.example/"));
    }

    #[test]
    fn entries_that_are_not_http_urls_allow_nothing_and_are_named() {
        let a = allowed("api.github.com ftp://files.example https://ok.example/?q=1");
        assert_eq!(
            a.invalid,
            [
                "api.github.com",
                "ftp://files.example",
                "https://ok.example/?q=1"
            ]
        );
        let error = a.check("s", "https://api.github.com/").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("api.github.com, ftp://files.example"),
            "{error}"
        );
    }
}
