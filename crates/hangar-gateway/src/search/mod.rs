//! Tool search: a BM25 index over the catalog's tools, for `search_tools`.
//!
//! Each tool is one document of the words of its name (twice, as a name says
//! most about a tool), title, description, and its arguments' names and
//! descriptions. Scoring and the inverted index are the `bm25` crate's; the
//! words come from [`words::Words`]. An index belongs to one catalog and is
//! built with it, so it follows every reload and upstream `list_changed`.

use bm25::{Embedder, EmbedderBuilder, Scorer};
use rmcp::model::Tool;
use serde_json::Value;

mod words;

use words::Words;

pub struct ToolIndex {
    embedder: Embedder<u32, Words>,
    scorer: Scorer<u32>,
}

impl ToolIndex {
    /// Indexes `tools`; search answers are positions in this slice.
    pub fn new(tools: &[Tool]) -> Self {
        let documents: Vec<String> = tools.iter().map(document).collect();
        let corpus: Vec<&str> = documents.iter().map(String::as_str).collect();
        let embedder = EmbedderBuilder::<u32, Words>::with_tokenizer_and_fit_to_corpus(
            Words::default(),
            &corpus,
        )
        .build();
        let mut scorer = Scorer::new();
        for (position, document) in (0u32..).zip(&documents) {
            scorer.upsert(&position, embedder.embed(document));
        }
        Self { embedder, scorer }
    }

    /// The positions of the tools sharing a word with `query`, best first;
    /// equal scores keep catalog order, so answers do not vary between calls.
    pub fn search(&self, query: &str) -> Vec<usize> {
        let mut matches = self.scorer.matches(&self.embedder.embed(query));
        matches.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        matches.into_iter().map(|m| m.id as usize).collect()
    }
}

/// The text a tool is found by.
fn document(tool: &Tool) -> String {
    let mut parts: Vec<&str> = vec![&tool.name, &tool.name];
    parts.extend(tool.title.as_deref());
    parts.extend(tool.annotations.as_ref().and_then(|a| a.title.as_deref()));
    parts.extend(tool.description.as_deref());
    if let Some(Value::Object(properties)) = tool.input_schema.get("properties") {
        for (argument, schema) in properties {
            parts.push(argument);
            parts.extend(schema.get("description").and_then(Value::as_str));
        }
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tool(name: &str, description: &str, properties: Value) -> Tool {
        let schema = serde_json::json!({"type": "object", "properties": properties});
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object")
        };
        Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
    }

    fn catalog() -> Vec<Tool> {
        vec![
            tool(
                "github_create_issue",
                "Opens an issue in a repository.",
                serde_json::json!({"repo": {}, "title": {}}),
            ),
            tool(
                "weather_forecast",
                "The weather for the next days.",
                serde_json::json!({"city": {"description": "Where, e.g. Paris"}}),
            ),
            tool(
                "calendarListEvents",
                "Lists what is planned.",
                serde_json::json!({}),
            ),
            tool(
                "files.read-file",
                "Reads a text file.",
                serde_json::json!({"path": {}}),
            ),
        ]
    }

    #[test]
    fn names_descriptions_and_arguments_are_searched() {
        let index = ToolIndex::new(&catalog());
        assert_eq!(index.search("open a GitHub issue").first(), Some(&0));
        assert_eq!(
            index.search("what will the weather be in Paris").first(),
            Some(&1)
        );
        assert_eq!(index.search("list my calendar events").first(), Some(&2));
        assert_eq!(index.search("read file").first(), Some(&3));
        assert_eq!(
            index.search("Paris").first(),
            Some(&1),
            "argument descriptions count"
        );
    }

    #[test]
    fn nothing_matches_words_no_tool_has() {
        let index = ToolIndex::new(&catalog());
        assert!(index.search("quantum chromodynamics").is_empty());
        assert!(index.search("").is_empty());
        assert!(ToolIndex::new(&[]).search("anything").is_empty());
    }

    #[test]
    fn equal_scores_keep_catalog_order() {
        let same = || tool("twin", "Same words.", serde_json::json!({}));
        let index = ToolIndex::new(&[same(), same(), same()]);
        for _ in 0..10 {
            assert_eq!(index.search("twin words"), [0, 1, 2]);
        }
    }
}
