//! MCPToolSet objects into the config's `tools`: every tool its OpenAPI
//! document became, called on the set's backend or the document's server.
//! A set whose document is unread or unusable is skipped with the reason; a
//! tool whose name another MCPTool or set already serves is skipped alone.

use std::collections::{BTreeMap, HashSet};

use hangar_api::MCPToolSet;
use hangar_config::{HttpBackend, ToolSpec};
use hangar_manifests::Manifests;
use hangar_openapi::{Conversion, DocumentError, Selection};
use kube::Resource;

use crate::{Compiler, duration, object_name};

/// An MCPToolSet's document as whoever read it (the operator, `hangar up`) found it.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolSetDocument {
    Read {
        conversion: Conversion,
        /// The URL it was read from, against which a relative server URL resolves.
        from_url: Option<String>,
    },
    /// It could not be read or is not an OpenAPI document: why.
    Unusable(String),
}

/// Converts a document's text with the set's operation filter.
pub fn read_document(toolset: &MCPToolSet, text: &str) -> Result<Conversion, DocumentError> {
    let selection = toolset
        .spec
        .include
        .as_ref()
        .map(|filter| Selection {
            tags: filter.tags.clone(),
            operation_ids: filter.operation_ids.clone(),
            methods: filter.methods.clone(),
        })
        .unwrap_or_default();
    hangar_openapi::convert(text, &selection)
}

/// Where a set's operations are called: its backend, or the document's first
/// server resolved against where the document came from.
pub fn server_url(
    compiler_backend: impl Fn(&hangar_api::HttpBackend) -> Result<String, String>,
    toolset: &MCPToolSet,
    conversion: &Conversion,
    from_url: Option<&str>,
) -> Result<String, String> {
    if let Some(backend) = &toolset.spec.backend {
        return compiler_backend(&hangar_api::HttpBackend {
            service: backend.service.clone(),
            url: backend.url.clone(),
            path: backend.path.clone(),
            method: None,
            headers: Vec::new(),
        });
    }
    let written = conversion.server_url.as_deref().unwrap_or("/");
    if let Ok(absolute) = url::Url::parse(written) {
        return Ok(absolute.to_string());
    }
    let Some(from_url) = from_url else {
        return Err(format!(
            "the document's server URL `{written}` is relative and the document was not read from a URL; set spec.backend"
        ));
    };
    url::Url::parse(from_url)
        .and_then(|base| base.join(written))
        .map(|url| url.to_string())
        .map_err(|e| {
            format!(
                "the document's server URL `{written}` does not resolve against {from_url}: {e}"
            )
        })
}

/// The documents of the manifests' tool sets in `namespace` (all namespaces
/// when `None`) without a cluster: inline ones, those in ConfigMaps among the
/// manifests, and those at URLs as `fetch` reads them (or says why not).
pub fn local_documents(
    manifests: &Manifests,
    namespace: Option<&str>,
    mut fetch: impl FnMut(&str) -> Result<String, String>,
) -> BTreeMap<String, ToolSetDocument> {
    let namespace_of =
        |meta: &kube::api::ObjectMeta| meta.namespace.clone().unwrap_or_else(|| "default".into());
    let mut documents = BTreeMap::new();
    for toolset in &manifests.toolsets {
        let set_namespace = namespace_of(&toolset.metadata);
        if namespace.is_some_and(|n| n != set_namespace) {
            continue;
        }
        let source = &toolset.spec.openapi;
        let text = match (&source.url, &source.config_map_key_ref, &source.inline) {
            (Some(url), _, _) => fetch(url),
            (None, Some(reference), _) => manifests
                .foreign
                .iter()
                .find(|o| {
                    o.api_version == "v1"
                        && o.kind == "ConfigMap"
                        && o.name == reference.name
                        && o.value["metadata"]["namespace"]
                            .as_str()
                            .unwrap_or("default")
                            == set_namespace
                })
                .ok_or_else(|| format!("the manifests hold no ConfigMap {}", reference.name))
                .and_then(|config_map| {
                    config_map.value["data"][&reference.key]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| {
                            format!("ConfigMap {} has no key {}", reference.name, reference.key)
                        })
                }),
            (None, None, Some(inline)) => Ok(inline.clone()),
            (None, None, None) => Err("spec.openapi names no document".into()),
        };
        let document = match text.map(|text| read_document(toolset, &text)) {
            Ok(Ok(conversion)) => ToolSetDocument::Read {
                conversion,
                from_url: source.url.clone(),
            },
            Ok(Err(why)) => ToolSetDocument::Unusable(why.to_string()),
            Err(why) => ToolSetDocument::Unusable(why),
        };
        documents.insert(object_name(&toolset.metadata), document);
    }
    documents
}

impl Compiler<'_> {
    pub(crate) fn toolsets(
        &mut self,
        toolsets: &[MCPToolSet],
        documents: &BTreeMap<String, ToolSetDocument>,
    ) {
        let mut names: HashSet<String> = self.config.tools.iter().map(|t| t.name.clone()).collect();
        let mut sorted: Vec<&MCPToolSet> = toolsets.iter().collect();
        sorted.sort_by_key(|t| object_name(t.meta()));
        for toolset in sorted {
            let object = object_name(&toolset.metadata);
            let (conversion, from_url) = match documents.get(&object) {
                None => {
                    self.skip(
                        "MCPToolSet",
                        &object,
                        "its OpenAPI document has not been read yet",
                    );
                    continue;
                }
                Some(ToolSetDocument::Unusable(why)) => {
                    self.skip(
                        "MCPToolSet",
                        &object,
                        format!("its OpenAPI document: {why}"),
                    );
                    continue;
                }
                Some(ToolSetDocument::Read {
                    conversion,
                    from_url,
                }) => (conversion, from_url.as_deref()),
            };
            let base = match server_url(|b| self.backend_url(b), toolset, conversion, from_url) {
                Ok(base) => base,
                Err(why) => {
                    self.skip("MCPToolSet", &object, why);
                    continue;
                }
            };
            let spec = &toolset.spec;
            let prepared = duration(&spec.timeout)
                .map_err(|why| format!("spec.timeout: {why}"))
                .and_then(|timeout| Ok((timeout, self.headers(&spec.headers, &base)?)))
                .and_then(|(timeout, headers)| {
                    Ok((timeout, headers, self.upstream_auth(spec.auth.as_ref())?))
                });
            let (timeout, headers, auth) = match prepared {
                Ok(prepared) => prepared,
                Err(why) => {
                    self.skip("MCPToolSet", &object, why);
                    continue;
                }
            };
            let prefix = spec.name_prefix.as_deref().unwrap_or("");
            for tool in &conversion.tools {
                let name = format!("{prefix}{}", tool.name);
                let item = ToolSpec {
                    name: name.clone(),
                    title: tool.title.clone(),
                    description: tool.description.clone(),
                    input_schema: Some(tool.input_schema.clone()),
                    output_schema: tool.output_schema.clone(),
                    annotations: Some(tool.annotations.clone()),
                    backend: HttpBackend {
                        url: format!("{}{}", base.trim_end_matches('/'), tool.path),
                        method: tool.method,
                        arguments: tool.arguments.clone(),
                        headers: headers.clone(),
                        timeout: Some(timeout),
                    },
                    auth: auth.clone(),
                };
                let at = format!("{object}/{}", tool.name);
                let mut problems = Vec::new();
                item.problems(
                    &format!("tools[{}] ({name})", self.config.tools.len()),
                    &mut problems,
                );
                if !problems.is_empty() {
                    self.skip("MCPToolSet", &at, problems.join("; "));
                } else if !names.insert(name.clone()) {
                    self.skip(
                        "MCPToolSet",
                        &at,
                        format!(
                            "another MCPTool or MCPToolSet already serves the tool name {name}"
                        ),
                    );
                } else {
                    self.config.tools.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Candidates, SecretDestinations, Target, compile};

    const SETS: &str = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPToolSet
metadata: {name: shop, namespace: team}
spec:
  openapi: {url: "http://docs.team.svc/openapi.json"}
  namePrefix: shop_
  headers: [{name: X-Api-Key, valueFrom: {secretKeyRef: {name: shop-key, key: key}}}]
  include: {tags: [books]}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPToolSet
metadata: {name: inline, namespace: team}
spec:
  openapi: {inline: "{}"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPToolSet
metadata: {name: unread, namespace: team}
spec:
  openapi: {inline: "{}"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: shop_list_books, namespace: team}
spec: {backend: {url: "http://other.test/"}}
"#;

    const DOCUMENT: &str = r#"
openapi: 3.1.0
info: {title: Shop, version: "1"}
servers: [{url: /api}]
paths:
  /books:
    get: {operationId: list_books, tags: [books], responses: {"200": {description: ok}}}
  /books/{id}:
    get:
      operationId: get_book
      tags: [books]
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: ok}}
  /admin:
    delete: {operationId: wipe, tags: [admin], responses: {"204": {description: gone}}}
"#;

    #[test]
    fn each_tool_of_a_set_is_called_on_its_server_and_a_taken_name_is_skipped_alone() {
        let manifests = hangar_manifests::parse(SETS, "sets").unwrap();
        let mut candidates = Candidates::all(&manifests);
        let shop = &manifests.toolsets[0];
        let conversion = read_document(shop, DOCUMENT).unwrap();
        assert_eq!(conversion.operations, 3);
        candidates.documents.insert(
            "shop".into(),
            ToolSetDocument::Read {
                conversion,
                from_url: Some("http://docs.team.svc/openapi.json".into()),
            },
        );
        candidates.documents.insert(
            "inline".into(),
            ToolSetDocument::Read {
                conversion: read_document(
                    shop,
                    "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
                )
                .unwrap(),
                from_url: None,
            },
        );
        let compiled = compile(
            &candidates.select(None),
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        );
        let tools: Vec<(&str, &str)> = compiled
            .config
            .tools
            .iter()
            .map(|t| (t.name.as_str(), t.backend.url.as_str()))
            .collect();
        assert_eq!(
            tools,
            [
                ("shop_list_books", "http://other.test/"),
                ("shop_get_book", "http://docs.team.svc/api/books/{id}"),
            ],
            "the MCPTool keeps its name; the set's relative server resolves against the document's URL"
        );
        assert_eq!(
            compiled.config.tools[1].backend.headers[0].name,
            "X-Api-Key"
        );
        let skipped: Vec<(&str, &str)> = compiled
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect();
        assert!(
            skipped.contains(&(
                "shop/list_books",
                "another MCPTool or MCPToolSet already serves the tool name shop_list_books"
            )),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&("unread", "its OpenAPI document has not been read yet")),
            "{skipped:?}"
        );
        assert!(
            skipped
                .iter()
                .any(|(name, why)| *name == "inline" && why.contains("set spec.backend")),
            "{skipped:?}"
        );
        assert!(
            compiled.config.problems().is_empty(),
            "{:?}",
            compiled.config.problems()
        );
    }
}
