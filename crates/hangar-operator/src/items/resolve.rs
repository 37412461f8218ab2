//! Whether an HTTP backend resolves to something callable. Pure.

use hangar_api::HttpBackend;
use k8s_openapi::api::core::v1::Service;

/// The URL a backend resolves to, or what is missing.
pub type Resolution = Result<String, Unresolved>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("Service {name} does not exist in namespace {namespace}")]
    ServiceNotFound { name: String, namespace: String },
    #[error("Service {name} has no port {port} (its ports: {available})")]
    PortNotFound {
        name: String,
        port: i32,
        available: String,
    },
    #[error("backend.url {url:?} is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
}

impl Unresolved {
    pub fn reason(&self) -> &'static str {
        match self {
            Unresolved::ServiceNotFound { .. } => "ServiceNotFound",
            Unresolved::PortNotFound { .. } => "ServicePortNotFound",
            Unresolved::BadUrl { .. } => "InvalidURL",
        }
    }
}

/// Resolves `backend` in `namespace`; `service` is the Service it names, if that exists.
pub fn resolve(backend: &HttpBackend, namespace: &str, service: Option<&Service>) -> Resolution {
    let path = backend.path.as_deref().unwrap_or("");
    if let Some(url) = &backend.url {
        let joined = if path.is_empty() {
            url.clone()
        } else {
            format!("{}{path}", url.trim_end_matches('/'))
        };
        return match url::Url::parse(&joined) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                Ok(joined)
            }
            Ok(_) => Err(Unresolved::BadUrl {
                url: joined,
                reason: "it needs an http or https scheme and a host".into(),
            }),
            Err(error) => Err(Unresolved::BadUrl {
                url: joined,
                reason: error.to_string(),
            }),
        };
    }
    let Some(reference) = &backend.service else {
        return Err(Unresolved::BadUrl {
            url: String::new(),
            reason: "the backend names neither url nor service".into(),
        });
    };
    let Some(service) = service else {
        return Err(Unresolved::ServiceNotFound {
            name: reference.name.clone(),
            namespace: namespace.into(),
        });
    };
    let ports: Vec<i32> = service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| p.port)
        .collect();
    if !ports.contains(&reference.port) {
        let available = if ports.is_empty() {
            "none".to_string()
        } else {
            ports
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Unresolved::PortNotFound {
            name: reference.name.clone(),
            port: reference.port,
            available,
        });
    }
    Ok(format!(
        "http://{}.{namespace}.svc:{}{path}",
        reference.name, reference.port
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(yaml: &str) -> HttpBackend {
        serde_json::from_value(serde_saphyr::from_str(yaml).unwrap()).unwrap()
    }

    fn service(ports: &[i32]) -> Service {
        serde_json::from_value(serde_json::json!({"spec": {"ports": ports.iter().map(|p| serde_json::json!({"port": p})).collect::<Vec<_>>()}}))
            .unwrap()
    }

    #[test]
    fn services_resolve_to_their_cluster_address() {
        let b = backend("{service: {name: weather, port: 80}, path: /forecast}");
        assert_eq!(
            resolve(&b, "tools", Some(&service(&[80]))).unwrap(),
            "http://weather.tools.svc:80/forecast"
        );
    }

    #[test]
    fn what_is_missing_is_named() {
        let b = backend("{service: {name: weather, port: 8080}}");
        assert_eq!(
            resolve(&b, "tools", None).unwrap_err().to_string(),
            "Service weather does not exist in namespace tools"
        );
        assert_eq!(
            resolve(&b, "tools", Some(&service(&[80, 443])))
                .unwrap_err()
                .to_string(),
            "Service weather has no port 8080 (its ports: 80, 443)"
        );
        let bad = backend("{url: 'http://'}");
        assert_eq!(
            resolve(&bad, "tools", None).unwrap_err().reason(),
            "InvalidURL"
        );
    }

    #[test]
    fn urls_resolve_with_their_path() {
        let b = backend("{url: 'https://api.example.com/v1/', path: /weather}");
        assert_eq!(
            resolve(&b, "tools", None).unwrap(),
            "https://api.example.com/v1/weather"
        );
    }
}
