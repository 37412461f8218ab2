//! The `resources` section: resources served inline or fetched over HTTP (MCPResource).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tools::HttpMethod;
use crate::values::{DurationSpec, NameValue, check_http_url, check_name_values, check_timeout};

/// A resource: inline `text`, inline base64 `blob`, or fetched from `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    pub uri: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Fetched with GET on every read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<ResourceHttp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceHttp {
    pub url: String,
    /// How the content is fetched on every read.
    #[serde(default = "get", skip_serializing_if = "is_get")]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

impl ResourceSpec {
    /// What is wrong with this resource on its own; `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if url::Url::parse(&self.uri).is_err() {
            problems.push(format!(
                "{at}.uri: not an absolute URI such as docs://readme"
            ));
        }
        let sources = [
            self.text.is_some(),
            self.blob.is_some(),
            self.http.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            problems.push(format!("{at}: set exactly one of text, blob and http"));
        }
        if let Some(blob) = &self.blob {
            use base64::Engine;
            if base64::engine::general_purpose::STANDARD
                .decode(blob)
                .is_err()
            {
                problems.push(format!("{at}.blob: not valid base64"));
            }
        }
        if let Some(http) = &self.http {
            check_http_url(&http.url, &format!("{at}.http.url"), problems);
            check_name_values(&http.headers, &format!("{at}.http.headers"), problems);
            check_timeout(http.timeout, &format!("{at}.http.timeout"), problems);
        }
    }
}

fn get() -> HttpMethod {
    HttpMethod::Get
}

fn is_get(method: &HttpMethod) -> bool {
    *method == HttpMethod::Get
}
