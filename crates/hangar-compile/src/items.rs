//! Declared items: MCPTool, MCPPrompt and MCPResource objects into the
//! config's `tools`, `prompts` and `resources`, in object-name order. An item
//! that cannot be served, or whose name another object already serves, is
//! skipped with the reason.

use std::collections::HashSet;

use hangar_api::{MCPPrompt, MCPResource, MCPTool};
use hangar_config::{
    HttpBackend, HttpMethod, PromptArgumentSpec, PromptMessageSpec, PromptSpec, ResourceHttp,
    ResourceSpec, ToolAnnotationsSpec, ToolSpec,
};
use kube::Resource;

use crate::{Compiler, Target, duration, object_name};

/// Objects sorted by name, so the config does not depend on listing order.
fn by_name<T: Resource>(objects: &[T]) -> Vec<&T> {
    let mut sorted: Vec<&T> = objects.iter().collect();
    sorted.sort_by_key(|o| object_name(o.meta()));
    sorted
}

impl Compiler<'_> {
    /// The URL of an HTTP backend, or why it cannot be reached from the target.
    pub(crate) fn backend_url(&self, backend: &hangar_api::HttpBackend) -> Result<String, String> {
        let path = backend.path.as_deref().unwrap_or("");
        match (&backend.url, &backend.service) {
            (Some(url), _) => Ok(join_path(url, path)),
            (None, Some(service)) => match self.target {
                Target::Cluster { namespace, .. } => Ok(format!(
                    "http://{}.{namespace}.svc:{}{path}",
                    service.name, service.port
                )),
                Target::Local => Err(format!(
                    "its backend is the Kubernetes Service {}:{}, which only exists in a cluster; use backend.url to run it with hangar up",
                    service.name, service.port
                )),
            },
            (None, None) => Err("its backend has neither url nor service".into()),
        }
    }

    pub(crate) fn tools(&mut self, tools: &[MCPTool]) {
        let mut names = HashSet::new();
        for tool in by_name(tools) {
            let object = object_name(&tool.metadata);
            let spec = &tool.spec;
            let name = spec.name.clone().unwrap_or_else(|| object.clone());
            let url = match self.backend_url(&spec.backend) {
                Ok(url) => url,
                Err(why) => {
                    self.skip("MCPTool", &object, why);
                    continue;
                }
            };
            let timeout = match duration(&spec.timeout) {
                Ok(timeout) => timeout,
                Err(why) => {
                    self.skip("MCPTool", &object, format!("spec.timeout: {why}"));
                    continue;
                }
            };
            let headers = match self.headers(&spec.backend.headers, &url) {
                Ok(headers) => headers,
                Err(why) => {
                    self.skip("MCPTool", &object, why);
                    continue;
                }
            };
            let auth = match self.upstream_auth(spec.auth.as_ref()) {
                Ok(auth) => auth,
                Err(why) => {
                    self.skip("MCPTool", &object, why);
                    continue;
                }
            };
            let item = ToolSpec {
                name: name.clone(),
                title: spec.title.clone(),
                description: spec.description.clone(),
                input_schema: Some(spec.input_schema.0.clone()),
                output_schema: spec.output_schema.as_ref().map(|s| s.0.clone()),
                annotations: spec.annotations.as_ref().map(annotations),
                backend: HttpBackend {
                    url,
                    method: spec.backend.method.unwrap_or(HttpMethod::Post),
                    arguments: Vec::new(),
                    headers,
                    timeout: Some(timeout),
                },
                auth,
            };
            let mut problems = Vec::new();
            item.problems(
                &format!("tools[{}] ({name})", self.config.tools.len()),
                &mut problems,
            );
            if !problems.is_empty() {
                self.skip("MCPTool", &object, problems.join("; "));
            } else if !names.insert(name.clone()) {
                self.skip(
                    "MCPTool",
                    &object,
                    format!("another MCPTool already serves the tool name {name}"),
                );
            } else {
                self.config.tools.push(item);
            }
        }
    }

    pub(crate) fn prompts(&mut self, prompts: &[MCPPrompt]) {
        let mut names = HashSet::new();
        for prompt in by_name(prompts) {
            let object = object_name(&prompt.metadata);
            let spec = &prompt.spec;
            let name = spec.name.clone().unwrap_or_else(|| object.clone());
            let item = PromptSpec {
                name: name.clone(),
                title: spec.title.clone(),
                description: spec.description.clone(),
                arguments: spec
                    .arguments
                    .iter()
                    .map(|a| PromptArgumentSpec {
                        name: a.name.clone(),
                        title: a.title.clone(),
                        description: a.description.clone(),
                        required: a.required,
                    })
                    .collect(),
                messages: spec
                    .messages
                    .iter()
                    .map(|m| PromptMessageSpec {
                        role: m.role,
                        text: m.text.clone(),
                    })
                    .collect(),
            };
            let mut problems = Vec::new();
            item.problems(
                &format!("prompts[{}] ({name})", self.config.prompts.len()),
                &mut problems,
            );
            if !problems.is_empty() {
                self.skip("MCPPrompt", &object, problems.join("; "));
            } else if !names.insert(name.clone()) {
                self.skip(
                    "MCPPrompt",
                    &object,
                    format!("another MCPPrompt already serves the prompt name {name}"),
                );
            } else {
                self.config.prompts.push(item);
            }
        }
    }

    pub(crate) fn resources(&mut self, resources: &[MCPResource]) {
        let mut uris = HashSet::new();
        for resource in by_name(resources) {
            let object = object_name(&resource.metadata);
            let spec = &resource.spec;
            let http = match &spec.http {
                None => None,
                Some(backend) => match (self.backend_url(backend), duration(&spec.timeout)) {
                    (Ok(url), Ok(timeout)) => match self.headers(&backend.headers, &url) {
                        Ok(headers) => Some(ResourceHttp {
                            url,
                            method: backend.method.unwrap_or(HttpMethod::Get),
                            headers,
                            timeout: Some(timeout),
                        }),
                        Err(why) => {
                            self.skip("MCPResource", &object, why);
                            continue;
                        }
                    },
                    (Err(why), _) => {
                        self.skip("MCPResource", &object, why);
                        continue;
                    }
                    (_, Err(why)) => {
                        self.skip("MCPResource", &object, format!("spec.timeout: {why}"));
                        continue;
                    }
                },
            };
            let item = ResourceSpec {
                uri: spec.uri.clone(),
                name: spec.name.clone().unwrap_or_else(|| object.clone()),
                title: spec.title.clone(),
                description: spec.description.clone(),
                mime_type: spec.mime_type.clone(),
                text: spec.inline.as_ref().and_then(|i| i.text.clone()),
                blob: spec.inline.as_ref().and_then(|i| i.blob.clone()),
                http,
            };
            let mut problems = Vec::new();
            item.problems(
                &format!("resources[{}] ({})", self.config.resources.len(), item.uri),
                &mut problems,
            );
            if !problems.is_empty() {
                self.skip("MCPResource", &object, problems.join("; "));
            } else if !uris.insert(item.uri.clone()) {
                self.skip(
                    "MCPResource",
                    &object,
                    format!("another MCPResource already serves {}", item.uri),
                );
            } else {
                self.config.resources.push(item);
            }
        }
    }
}

fn join_path(url: &str, path: &str) -> String {
    if path.is_empty() {
        url.to_string()
    } else {
        format!("{}{path}", url.trim_end_matches('/'))
    }
}

/// An MCPTool's or a curation override's hints, as the config carries them.
pub(crate) fn annotations(a: &hangar_api::ToolAnnotations) -> ToolAnnotationsSpec {
    ToolAnnotationsSpec {
        title: a.title.clone(),
        read_only_hint: a.read_only_hint,
        destructive_hint: a.destructive_hint,
        idempotent_hint: a.idempotent_hint,
        open_world_hint: a.open_world_hint,
    }
}
