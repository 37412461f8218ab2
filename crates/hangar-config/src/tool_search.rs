//! Config section `toolSearch`: for catalogs too large to list, clients see
//! two meta-tools instead of every tool: `search_tools` ranks the catalog
//! by a query and `call_tool` calls a tool it found by name.

use hangar_api::{DEFAULT_MAX_SEARCH_RESULTS, DEFAULT_SEARCH_RESULTS, MOST_SEARCH_RESULTS};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most tools one search may return.
pub const MOST_RESULTS: u32 = MOST_SEARCH_RESULTS as u32;

/// Tool search is on when this section is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolSearchSettings {
    /// How many tools a search returns when the client gives no `limit`.
    #[serde(default = "default_results")]
    #[schemars(range(min = 1, max = 50))]
    pub default_results: u32,
    /// The most tools a search returns, whatever `limit` the client gives.
    #[serde(default = "default_max_results")]
    #[schemars(range(min = 1, max = 50))]
    pub max_results: u32,
}

impl Default for ToolSearchSettings {
    fn default() -> Self {
        Self {
            default_results: default_results(),
            max_results: default_max_results(),
        }
    }
}

fn default_results() -> u32 {
    DEFAULT_SEARCH_RESULTS as u32
}

fn default_max_results() -> u32 {
    DEFAULT_MAX_SEARCH_RESULTS as u32
}

impl ToolSearchSettings {
    /// How many tools a search asking for `limit` returns.
    pub fn results(&self, limit: Option<u64>) -> usize {
        let asked = limit.map_or(u64::from(self.default_results), |l| l.max(1));
        asked.min(u64::from(self.max_results)) as usize
    }

    /// What clients see, in words (for `hangar up` and `hangar render`).
    pub fn describe(&self) -> String {
        format!(
            "clients list search_tools and call_tool instead of the tools; a search returns {} \
             unless asked for more, at most {}",
            self.default_results, self.max_results
        )
    }

    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        for (field, value) in [
            ("defaultResults", self.default_results),
            ("maxResults", self.max_results),
        ] {
            if !(1..=MOST_RESULTS).contains(&value) {
                problems.push(format!(
                    "toolSearch.{field}: {value} is out of range; it must be 1 to {MOST_RESULTS}"
                ));
            }
        }
        if self.default_results > self.max_results {
            problems.push(format!(
                "toolSearch.defaultResults: {} is more than maxResults ({})",
                self.default_results, self.max_results
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_follow_the_limit_within_the_maximum() {
        let settings = ToolSearchSettings::default();
        assert_eq!(settings.results(None), 5);
        assert_eq!(settings.results(Some(0)), 1);
        assert_eq!(settings.results(Some(12)), 12);
        assert_eq!(settings.results(Some(1_000)), 20);
    }

    #[test]
    fn out_of_range_or_crossed_counts_are_problems() {
        let mut problems = Vec::new();
        ToolSearchSettings {
            default_results: 0,
            max_results: 51,
        }
        .problems(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");

        let mut problems = Vec::new();
        ToolSearchSettings {
            default_results: 10,
            max_results: 3,
        }
        .problems(&mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("more than maxResults"));

        let mut problems = Vec::new();
        ToolSearchSettings::default().problems(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
