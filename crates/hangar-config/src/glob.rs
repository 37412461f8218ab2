//! The one name-pattern matcher of Hangar: authorization rules, registry
//! filters and curation lists all match names with it.

/// `*` matches any run of characters (including none); everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text must be the literal.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("github_*", "github_search"));
        assert!(!glob("github_*", "gitlab_search"));
        assert!(glob("*_read", "files_read"));
        assert!(!glob("*_read", "files_write"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("ab*ab", "ab"));
        assert!(glob("docs://*", "docs://readme"));
        assert!(glob("io.*/time", "io.github.acme/time"));
        assert!(!glob("io.*/time", "io.github.acme/timer"));
    }
}
