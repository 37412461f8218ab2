//! Which of a set of RFC 6570 URI templates a concrete URI was expanded from.
//!
//! Every template becomes one anchored regular expression and the set is
//! matched in a single pass by the `regex` crate, whose matching time is
//! linear in the URI: a long URI against templates with adjacent variables
//! costs no more than any other. URIs longer than [`MAX_URI_BYTES`] match
//! nothing.

use regex::RegexSet;

/// Longer URIs are refused before any matching (HTTP servers cap request
/// lines near this size too).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// A compiled pattern larger than this is a template we will not match.
const MAX_PATTERN_BYTES: usize = 64 * 1024;

/// The templates of one listing or catalog, in their order.
#[derive(Debug, Clone, Default)]
pub struct UriTemplates {
    templates: Vec<String>,
    set: Option<RegexSet>,
}

impl PartialEq for UriTemplates {
    fn eq(&self, other: &Self) -> bool {
        self.templates == other.templates
    }
}

impl UriTemplates {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Self {
        let templates: Vec<String> = templates.into_iter().map(str::to_owned).collect();
        let patterns: Vec<String> = templates.iter().map(|t| pattern(t)).collect();
        let set = regex::RegexSetBuilder::new(&patterns)
            .size_limit(MAX_PATTERN_BYTES * patterns.len().max(1))
            .build()
            .inspect_err(
                |e| tracing::warn!(error = %e, "resource templates that cannot be matched"),
            )
            .ok();
        Self { templates, set }
    }

    /// The index of the first template `uri` matches.
    pub fn first_match(&self, uri: &str) -> Option<usize> {
        if uri.len() > MAX_URI_BYTES {
            return None;
        }
        self.set.as_ref()?.matches(uri).iter().next()
    }

    pub fn any_match(&self, uri: &str) -> bool {
        self.first_match(uri).is_some()
    }
}

/// Whether `uri` could have been expanded from `template`.
#[cfg(test)]
fn matches(template: &str, uri: &str) -> bool {
    UriTemplates::new([template]).any_match(uri)
}

/// The template as an anchored regular expression. Each expression matches
/// what its operator can expand to (RFC 6570 §3.2): a simple `{var}` one
/// non-empty run without `/`, `?` or `#`; `{+var}` anything non-empty;
/// the prefixed operators (`#`, `.`, `/`, `;`, `?`, `&`) an optional part
/// that starts with their prefix. Literal text matches itself.
fn pattern(template: &str) -> String {
    let mut out = String::from("^");
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&regex::escape(&rest[..open]));
        let Some(close) = rest[open..].find('}') else {
            // An unclosed expression is literal text.
            rest = &rest[open..];
            break;
        };
        let operator = rest[open + 1..open + close].chars().next();
        out.push_str(match operator {
            Some('+') => "(?s:.+)",
            Some('#') => "(?:#(?s:.*))?",
            Some('.') => r"(?:\.[^/?#]*)?",
            Some('/') => "(?:/[^?#]*)?",
            Some(';') => "(?:;[^/?#]*)?",
            Some('?') => r"(?:\?[^#]*)?",
            Some('&') => "(?:&[^#]*)?",
            _ => "[^/?#]+",
        });
        rest = &rest[open + close + 1..];
    }
    out.push_str(&regex::escape(rest));
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_the_uris_they_expand_to() {
        assert!(matches(
            "test://template/{id}/data",
            "test://template/123/data"
        ));
        assert!(!matches(
            "test://template/{id}/data",
            "test://template/1/2/data"
        ));
        assert!(!matches(
            "test://template/{id}/data",
            "test://template//data"
        ));
        assert!(matches("file:///{+path}", "file:///a/b/c.txt"));
        assert!(matches(
            "demo://resource/dynamic/text/{resourceId}",
            "demo://resource/dynamic/text/7"
        ));
        assert!(matches("search://{q}{?limit}", "search://x?limit=3"));
        assert!(matches("search://{q}{?limit}", "search://x"));
        assert!(matches("search://{q}{?a,b}{&c}", "search://x?a=1&b=2&c=3"));
        assert!(matches("doc://{id}{#section}", "doc://7#intro"));
        assert!(matches("path:/{/segments*}", "path://a/b"));
        assert!(!matches("a://{x}", "b://y"));
        // Literal text is literal, regex syntax included.
        assert!(matches("a.b://{x}", "a.b://y"));
        assert!(!matches("a.b://{x}", "aXb://y"));
        // An unclosed expression is literal text.
        assert!(matches("a://{x", "a://{x"));
        assert!(!matches("a://{x", "a://y"));
    }

    #[test]
    fn non_ascii_uris_are_matched_without_panicking() {
        // Once a slice at a byte offset inside `é` panicked the worker.
        assert!(matches("x://s{?q}", "x://s?q=é"));
        assert!(matches("x://{a}{b}", "x://éé"));
        assert!(!matches("x://s{?q}", "x://sé"));
    }

    #[test]
    fn the_first_matching_template_wins() {
        let templates = UriTemplates::new(["a://{x}/b", "a://{+x}", "c://{y}"]);
        assert_eq!(templates.first_match("a://1/b"), Some(0));
        assert_eq!(templates.first_match("a://1/2/b"), Some(1));
        assert_eq!(templates.first_match("c://z"), Some(2));
        assert_eq!(templates.first_match("d://z"), None);
        assert_eq!(UriTemplates::default().first_match("a://1/b"), None);
    }

    #[test]
    fn overlong_uris_match_nothing() {
        let templates = UriTemplates::new(["a://{+x}"]);
        let long = format!("a://{}", "x".repeat(MAX_URI_BYTES));
        assert_eq!(templates.first_match(&long), None);
        assert!(templates.any_match(&long[..MAX_URI_BYTES]));
    }

    #[test]
    fn adjacent_variables_over_a_long_uri_are_matched_once() {
        // The old backtracking matcher tried every split for each variable.
        let template = "x://{a}{b}{c}{d}{e}{f}/end";
        let uri = format!("x://{}", "a".repeat(MAX_URI_BYTES - 8));
        let templates = UriTemplates::new([template]);
        assert!(!templates.any_match(&uri));
        assert!(templates.any_match("x://abcdef/end"));
    }

    /// One piece of a generated template, and how to expand it.
    #[derive(Debug, arbitrary::Arbitrary)]
    enum Piece {
        Literal(String),
        Expression(u8, String),
    }

    /// A template from `pieces`, and a URI expanded from it with `value`s.
    fn template_and_expansion(pieces: &[Piece]) -> (String, String) {
        let mut template = String::new();
        let mut uri = String::new();
        for piece in pieces {
            match piece {
                Piece::Literal(text) => {
                    let text: String = text.chars().filter(|c| !"{}".contains(*c)).collect();
                    template.push_str(&text);
                    uri.push_str(&text);
                }
                Piece::Expression(which, value) => {
                    let operators = ["", "+", "#", ".", "/", ";", "?", "&"];
                    let operator = operators[usize::from(*which) % operators.len()];
                    template.push_str(&format!("{{{operator}var}}"));
                    let plain: String = value.chars().filter(|c| !"/?#".contains(*c)).collect();
                    match operator {
                        "" => uri.push_str(if plain.is_empty() { "x" } else { &plain }),
                        "+" => uri.push_str(if value.is_empty() { "x" } else { value }),
                        "#" => uri.push_str(&format!("#{value}")),
                        "?" | "&" => {
                            let query: String = value.chars().filter(|c| *c != '#').collect();
                            uri.push_str(&format!("{operator}{query}"));
                        }
                        // `.`, `/` and `;` stop at the characters their pattern excludes.
                        "/" => {
                            let segment: String =
                                value.chars().filter(|c| !"?#".contains(*c)).collect();
                            uri.push_str(&format!("/{segment}"));
                        }
                        _ => uri.push_str(&format!("{operator}{plain}")),
                    }
                }
            }
        }
        (template, uri)
    }

    #[test]
    fn fuzz_expanded_uris_match_their_template_and_nothing_panics() {
        hangar_testenv::fuzz::run("uri templates", |u| {
            let pieces: Vec<Piece> = u.arbitrary()?;
            let (template, uri) = template_and_expansion(&pieces);
            let templates = UriTemplates::new([template.as_str()]);
            if uri.len() <= MAX_URI_BYTES {
                assert!(
                    templates.any_match(&uri),
                    "{template:?} does not match {uri:?}"
                );
            }
            // Arbitrary templates against arbitrary URIs: an answer, never a panic.
            let other: String = u.arbitrary()?;
            let _ = templates.first_match(&other);
            let _ = UriTemplates::new([other.as_str(), template.as_str()]).first_match(&uri);
            Ok(())
        });
    }
}
