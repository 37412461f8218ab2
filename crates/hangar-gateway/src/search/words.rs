//! The words a tool definition or a query is indexed by: identifiers split
//! into their words (`list_issues`, `listIssues`, `github.list-issues`,
//! `HTTPServer` → http server; a camelCase run also as a whole, so `GitHub`
//! meets `github`), lowercased, English stop words dropped, and each word
//! stemmed (Snowball), so `listing issues` finds `list_issue`.

use std::collections::HashSet;

use rust_stemmers::{Algorithm, Stemmer};

/// Tokenizes text for the BM25 index; the same for documents and queries.
pub struct Words {
    stemmer: Stemmer,
    stop_words: HashSet<&'static str>,
}

impl Default for Words {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            stop_words: stop_words::lookup("en")
                .unwrap_or_default()
                .iter()
                .copied()
                .collect(),
        }
    }
}

impl bm25::Tokenizer for Words {
    fn tokenize(&self, text: &str) -> Vec<String> {
        let mut words = Vec::new();
        for run in text.split(|c: char| !c.is_alphanumeric()) {
            let parts = split_case(run);
            // A brand in prose (`GitHub`) must still meet its name (`github_…`).
            let whole = (parts.len() > 1).then_some(run);
            for word in parts.into_iter().chain(whole) {
                self.push(&mut words, word);
            }
        }
        words
    }
}

impl Words {
    fn push(&self, words: &mut Vec<String>, word: &str) {
        let word = word.to_lowercase();
        if !self.stop_words.contains(word.as_str()) {
            words.push(self.stemmer.stem(&word).into_owned());
        }
    }
}

/// The words of one camelCase or PascalCase run: a new word starts at an
/// upper-case letter after a lower-case letter or digit, and at the last
/// capital of an acronym followed by a lower-case letter (`HTTPServer`).
fn split_case(run: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let mut words = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, c) = chars[i];
        let previous = chars[i - 1].1;
        let next_is_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
        let starts_word = c.is_uppercase()
            && (previous.is_lowercase()
                || previous.is_numeric()
                || (previous.is_uppercase() && next_is_lower));
        if starts_word {
            words.push(&run[start..at]);
            start = at;
        }
    }
    if start < run.len() {
        words.push(&run[start..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use bm25::Tokenizer;

    use super::*;

    #[test]
    fn identifiers_are_split_into_words() {
        assert_eq!(split_case("listIssues"), ["list", "Issues"]);
        assert_eq!(split_case("HTTPServer"), ["HTTP", "Server"]);
        assert_eq!(split_case("getV2Users"), ["get", "V2", "Users"]);
        assert_eq!(split_case("S3"), ["S3"]);
        assert_eq!(split_case(""), Vec::<&str>::new());
    }

    #[test]
    fn names_and_sentences_meet_in_the_same_words() {
        let words = Words::default();
        let name = words.tokenize("github_listIssues.create-pull_requests");
        assert_eq!(
            name,
            [
                "github", "list", "issu", "listissu", "creat", "pull", "request"
            ]
        );
        let query = words.tokenize("Listing the issues of a GitHub repository");
        assert_eq!(
            query,
            ["list", "issu", "git", "hub", "github", "repositori"]
        );
    }

    #[test]
    fn odd_text_gives_words_or_nothing() {
        let words = Words::default();
        assert!(words.tokenize("").is_empty());
        assert!(words.tokenize("__--..//").is_empty());
        assert_eq!(words.tokenize("Ünïcode_ÆØÅ"), ["ünïcode", "æøå"]);
    }
}
