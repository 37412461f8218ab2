//! Where a declared tool's arguments go in its backend request: the URL's
//! path templates, the query, headers or the JSON body (`backend.arguments`).

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use hangar_config::{ArgumentLocation, HttpBackend, url_templates};

/// Everything but RFC 3986's unreserved characters is encoded in a path value,
/// so that a value is one segment (a `/` in it does not reach another route).
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request parts of one call, built from its arguments.
pub struct PlacedArguments {
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `None` for methods that send no body.
    pub body: Option<Value>,
}

/// A backend's argument placements, checked once when the config loads.
pub struct Placement {
    /// The URL as parsed, when it has no templates to fill per call.
    url: Option<url::Url>,
    /// The URL as configured, with its `{name}` templates.
    template: String,
    placed: HashMap<String, (ArgumentLocation, String)>,
    unplaced: ArgumentLocation,
    sends_body: bool,
}

impl Placement {
    pub fn new(backend: &HttpBackend) -> Result<Self, String> {
        let templated = !url_templates(&backend.url).is_empty();
        let url = if templated {
            None
        } else {
            Some(url::Url::parse(&backend.url).map_err(|e| format!("backend.url: {e}"))?)
        };
        Ok(Self {
            url,
            template: backend.url.clone(),
            placed: backend
                .arguments
                .iter()
                .map(|p| (p.argument.clone(), (p.location, p.wire_name().to_string())))
                .collect(),
            unplaced: backend.unplaced_location(),
            sends_body: !backend.method.uses_query(),
        })
    }

    /// The request parts for `arguments`; an error names the argument a
    /// request cannot carry.
    pub fn place(&self, arguments: Map<String, Value>) -> Result<PlacedArguments, String> {
        let mut path_values = HashMap::new();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        let mut body = Map::new();
        let mut whole_body = None;
        for (argument, value) in arguments {
            let (location, wire) = match self.placed.get(&argument) {
                Some((location, wire)) => (*location, wire.clone()),
                None => (self.unplaced, argument.clone()),
            };
            match location {
                ArgumentLocation::Path => {
                    path_values.insert(wire, joined_text(&value));
                }
                ArgumentLocation::Query => push_query(&mut query, wire, &value),
                ArgumentLocation::Header if value.is_null() => {}
                ArgumentLocation::Header => {
                    let name = HeaderName::from_bytes(wire.as_bytes())
                        .map_err(|e| format!("argument `{argument}`: {e}"))?;
                    let value = HeaderValue::from_str(&joined_text(&value)).map_err(|_| {
                        format!("argument `{argument}` cannot be sent in the `{wire}` header: it holds characters a header may not")
                    })?;
                    headers.push((name, value));
                }
                ArgumentLocation::Body => {
                    body.insert(wire, value);
                }
                ArgumentLocation::WholeBody => whole_body = Some(value),
            }
        }
        let mut url = match &self.url {
            Some(url) => url.clone(),
            None => self.filled(&path_values)?,
        };
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let body = self
            .sends_body
            .then(|| whole_body.unwrap_or(Value::Object(body)));
        Ok(PlacedArguments { url, headers, body })
    }

    /// The URL with every template filled, each value one encoded segment.
    fn filled(&self, values: &HashMap<String, String>) -> Result<url::Url, String> {
        let mut url = String::with_capacity(self.template.len() + 32);
        let mut rest = self.template.as_str();
        for name in url_templates(&self.template) {
            let marker = format!("{{{name}}}");
            let at = rest.find(&marker).unwrap_or(rest.len());
            url.push_str(&rest[..at]);
            let value = values
                .get(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("argument `{name}` is required: it is part of the URL"))?;
            url.extend(utf8_percent_encode(value, PATH_VALUE));
            rest = &rest[(at + marker.len()).min(rest.len())..];
        }
        url.push_str(rest);
        url::Url::parse(&url).map_err(|e| format!("the URL filled with the arguments: {e}"))
    }
}

/// Query parameters of one argument: scalars as text, arrays as repeated keys, objects as JSON.
fn push_query(query: &mut Vec<(String, String)>, key: String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                query.push((key.clone(), scalar_text(item)));
            }
        }
        other => query.push((key, scalar_text(other))),
    }
}

/// A value as one piece of text; arrays comma-separated (OpenAPI's `simple` style).
fn joined_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        other => scalar_text(other),
    }
}

pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backend(yaml: &str) -> HttpBackend {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn arguments(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_location_gets_its_argument() {
        let placement = Placement::new(&backend(
            r#"
url: "http://shop.test/books/{book_id}/rating"
method: PUT
arguments:
  - {argument: book_id, in: path}
  - {argument: reviewer, in: header, name: x-reviewer}
  - {argument: dry_run, in: query, name: dry-run}
"#,
        ))
        .unwrap();
        let placed = placement
            .place(arguments(json!({
                "book_id": "a/b c", "reviewer": "ada", "dry_run": true, "stars": 5
            })))
            .unwrap();
        assert_eq!(
            placed.url.as_str(),
            "http://shop.test/books/a%2Fb%20c/rating?dry-run=true"
        );
        assert_eq!(placed.headers.len(), 1);
        assert_eq!(placed.headers[0].0.as_str(), "x-reviewer");
        assert_eq!(placed.headers[0].1, "ada");
        // Unplaced arguments of a PUT are body properties.
        assert_eq!(placed.body, Some(json!({"stars": 5})));
    }

    #[test]
    fn a_whole_body_argument_is_the_body_and_the_rest_go_to_the_query() {
        let placement = Placement::new(&backend(
            r#"
url: "http://shop.test/batch"
method: POST
arguments: [{argument: body, in: wholeBody}]
"#,
        ))
        .unwrap();
        let placed = placement
            .place(arguments(json!({"body": [1, 2], "tags": ["a", "b"]})))
            .unwrap();
        assert_eq!(placed.url.as_str(), "http://shop.test/batch?tags=a&tags=b");
        assert_eq!(placed.body, Some(json!([1, 2])));
    }

    #[test]
    fn without_placements_get_uses_the_query_and_post_the_body() {
        let get = Placement::new(&backend("url: http://shop.test/books\nmethod: GET\n")).unwrap();
        let placed = get
            .place(arguments(json!({
                "author": "Le Guin", "n": 3, "tags": ["a", "b"], "skip": null, "o": {"k": 1}
            })))
            .unwrap();
        // Scalars as text, arrays as repeated keys, objects as JSON, nulls left out.
        assert_eq!(
            placed.url.as_str(),
            "http://shop.test/books?author=Le+Guin&n=3&o=%7B%22k%22%3A1%7D&tags=a&tags=b"
        );
        assert_eq!(placed.body, None);
        let post = Placement::new(&backend("url: http://shop.test/books\n")).unwrap();
        let placed = post.place(arguments(json!({"title": "Tehanu"}))).unwrap();
        assert_eq!(placed.body, Some(json!({"title": "Tehanu"})));
    }

    #[test]
    fn what_a_request_cannot_carry_is_named() {
        let placement = Placement::new(&backend(
            r#"
url: "http://shop.test/books/{id}"
method: GET
arguments: [{argument: id, in: path}, {argument: note, in: header, name: x-note}]
"#,
        ))
        .unwrap();
        let missing = placement.place(Map::new()).err().unwrap();
        assert!(missing.contains("`id` is required"), "{missing}");
        let newline = placement
            .place(arguments(json!({"id": 1, "note": "a\nb"})))
            .err()
            .unwrap();
        assert!(
            newline.contains("`note`") && newline.contains("x-note"),
            "{newline}"
        );
    }
}
