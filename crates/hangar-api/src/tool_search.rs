//! Tool search: for catalogs too large to list, a gateway lists two
//! meta-tools instead, `search_tools` (the tools best matching a query, with
//! their definitions) and `call_tool` (calls one of them by name).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// How many tools a search returns when the client gives no `limit`, by default.
pub const DEFAULT_SEARCH_RESULTS: i32 = 5;
/// The most tools a search returns, by default.
pub const DEFAULT_MAX_SEARCH_RESULTS: i32 = 20;
/// The most tools any search may be set to return.
pub const MOST_SEARCH_RESULTS: i32 = 50;

/// Tool search is on when this is present (`toolSearch: {}` takes the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.defaultResults <= self.maxResults").message("spec.toolSearch.defaultResults must not be more than maxResults").field_path(".defaultResults"))]
pub struct ToolSearchSpec {
    /// How many tools `search_tools` returns when the client gives no `limit`.
    #[serde(default = "default_results")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 50").message("spec.toolSearch.defaultResults must be between 1 and 50"))]
    pub default_results: i32,
    /// The most tools `search_tools` returns, whatever `limit` the client gives.
    #[serde(default = "default_max_results")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 50").message("spec.toolSearch.maxResults must be between 1 and 50"))]
    pub max_results: i32,
}

impl Default for ToolSearchSpec {
    fn default() -> Self {
        Self {
            default_results: DEFAULT_SEARCH_RESULTS,
            max_results: DEFAULT_MAX_SEARCH_RESULTS,
        }
    }
}

fn default_results() -> i32 {
    DEFAULT_SEARCH_RESULTS
}

fn default_max_results() -> i32 {
    DEFAULT_MAX_SEARCH_RESULTS
}
