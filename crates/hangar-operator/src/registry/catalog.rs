//! A synced catalog: the entries an MCPRegistry keeps after its filter, and
//! lookup of `server` + `version` (or `latest`) with answers a user can act on.
//! Pure: no I/O.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use hangar_api::RegistryFilter;
use hangar_config::glob::glob;

use super::schema::{EntryStatus, ServerDetail, ServerResponse};

/// The `version` that asks for the newest usable entry.
pub const LATEST: &str = "latest";

/// The entries of one registry, by server name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Usable entries, newest version first.
    servers: BTreeMap<String, Vec<Entry>>,
    /// Versions left out because the registry deleted or deprecated them, so a
    /// reference to one is told why it does not resolve.
    withdrawn: BTreeMap<String, Vec<Withdrawn>>,
    /// Entries that were not valid `server.json`, with why.
    pub invalid: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    server: ServerDetail,
    /// The registry's own `isLatest`, when it says.
    is_latest: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
struct Withdrawn {
    version: String,
    status: EntryStatus,
    message: Option<String>,
}

/// Why a reference does not resolve to an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotInCatalog {
    #[error("the catalog has no server named {server:?}{}; check spec.registry.server (names look like io.github.owner/name)", similar_hint(.similar))]
    UnknownServer {
        server: String,
        similar: Vec<String>,
    },
    #[error("{server} has no version {version:?} in the catalog (it has: {}); set spec.registry.version to one of them or to \"latest\"", .available.join(", "))]
    UnknownVersion {
        server: String,
        version: String,
        available: Vec<String>,
    },
    #[error("{server} {version} was {} in the registry{}; {}", .status.as_str(), status_reason(.message), withdrawn_hint(*.status))]
    Withdrawn {
        server: String,
        version: String,
        status: EntryStatus,
        message: Option<String>,
    },
}

fn similar_hint(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", similar.join(" or "))
    }
}

fn status_reason(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

fn withdrawn_hint(status: EntryStatus) -> &'static str {
    match status {
        EntryStatus::Deprecated => {
            "pick another version in spec.registry.version, or set spec.filter.includeDeprecated on the MCPRegistry to keep deprecated entries"
        }
        _ => "pick another version in spec.registry.version, or another server",
    }
}

impl Catalog {
    /// Keeps what `filter` selects. Deleted entries, and deprecated ones unless
    /// the filter includes them, are remembered as withdrawn only.
    pub fn build(
        entries: Vec<ServerResponse>,
        filter: &RegistryFilter,
        invalid: Vec<String>,
    ) -> Catalog {
        let mut catalog = Catalog {
            invalid,
            ..Catalog::default()
        };
        let search = filter.search.as_deref().map(str::to_lowercase);
        for entry in entries {
            let name = &entry.server.name;
            if !filter.names.is_empty() && !filter.names.iter().any(|p| glob(p, name)) {
                continue;
            }
            if search
                .as_deref()
                .is_some_and(|term| !name.to_lowercase().contains(term))
            {
                continue;
            }
            let status = entry.status();
            let usable = match status {
                EntryStatus::Active => true,
                EntryStatus::Deprecated => filter.include_deprecated,
                EntryStatus::Deleted => false,
            };
            if usable {
                catalog
                    .servers
                    .entry(name.clone())
                    .or_default()
                    .push(Entry {
                        is_latest: entry.is_latest(),
                        server: entry.server,
                    });
            } else {
                catalog
                    .withdrawn
                    .entry(name.clone())
                    .or_default()
                    .push(Withdrawn {
                        version: entry.server.version.clone(),
                        status,
                        message: entry.status_message().map(str::to_string),
                    });
            }
        }
        for versions in catalog.servers.values_mut() {
            versions.sort_by(|a, b| compare_versions(&b.server.version, &a.server.version));
            versions.dedup_by(|a, b| a.server.version == b.server.version);
        }
        match filter.version.as_deref() {
            None => {}
            Some(LATEST) => {
                for versions in catalog.servers.values_mut() {
                    let latest = latest_index(versions);
                    let kept = versions.swap_remove(latest);
                    *versions = vec![kept];
                }
            }
            Some(version) => {
                for versions in catalog.servers.values_mut() {
                    versions.retain(|e| e.server.version == version);
                }
                catalog.servers.retain(|_, versions| !versions.is_empty());
            }
        }
        catalog
    }

    /// Usable entries (server versions).
    pub fn entries(&self) -> usize {
        self.servers.values().map(Vec::len).sum()
    }

    /// Servers with at least one usable entry.
    pub fn servers(&self) -> usize {
        self.servers.len()
    }

    /// Entries left out as deprecated or deleted.
    pub fn withdrawn(&self) -> usize {
        self.withdrawn.values().map(Vec::len).sum()
    }

    /// The entry for `server` at `version` (an exact version, or `latest`).
    pub fn find(&self, server: &str, version: &str) -> Result<&ServerDetail, NotInCatalog> {
        let usable = self.servers.get(server);
        let withdrawn = self.withdrawn.get(server);
        if usable.is_none() && withdrawn.is_none() {
            return Err(NotInCatalog::UnknownServer {
                server: server.into(),
                similar: self.similar_names(server),
            });
        }
        let usable = usable.map(Vec::as_slice).unwrap_or_default();
        if version == LATEST {
            if !usable.is_empty() {
                return Ok(&usable[latest_index(usable)].server);
            }
        } else if let Some(entry) = usable.iter().find(|e| e.server.version == version) {
            return Ok(&entry.server);
        }
        // Not usable: say why when the registry withdrew it.
        let withdrawn = withdrawn.map(Vec::as_slice).unwrap_or_default();
        let gone = if version == LATEST {
            withdrawn
                .iter()
                .max_by(|a, b| compare_versions(&a.version, &b.version))
        } else {
            withdrawn.iter().find(|w| w.version == version)
        };
        match gone {
            Some(gone) => Err(NotInCatalog::Withdrawn {
                server: server.into(),
                version: gone.version.clone(),
                status: gone.status,
                message: gone.message.clone(),
            }),
            None => Err(NotInCatalog::UnknownVersion {
                server: server.into(),
                version: version.into(),
                available: usable.iter().map(|e| e.server.version.clone()).collect(),
            }),
        }
    }

    /// Up to three names sharing the part after the namespace, for typos in the namespace.
    fn similar_names(&self, server: &str) -> Vec<String> {
        let short = server.rsplit('/').next().unwrap_or(server).to_lowercase();
        if short.is_empty() {
            return Vec::new();
        }
        self.servers
            .keys()
            .filter(|name| name.to_lowercase().contains(&short))
            .take(3)
            .cloned()
            .collect()
    }
}

/// The entry the registry marks latest, else the highest release (pre-releases
/// only when there is nothing else). `versions` is not empty.
fn latest_index(versions: &[Entry]) -> usize {
    let release = |i: usize| !versions[i].server.version.contains('-');
    versions
        .iter()
        .position(|e| e.is_latest == Some(true))
        .unwrap_or_else(|| {
            (0..versions.len())
                .max_by(|&a, &b| {
                    release(a).cmp(&release(b)).then_with(|| {
                        compare_versions(&versions[a].server.version, &versions[b].server.version)
                    })
                })
                .unwrap_or(0)
        })
}

/// Semantic-version order (`1.10.0` > `1.9.0`, `1.0.0` > `1.0.0-rc.1`); text
/// that is not a version compares as text, after versions.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Some(x), Some(y)) => x.0.cmp(&y.0).then_with(|| compare_prerelease(&x.1, &y.1)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// (numeric core padded to three parts, pre-release identifiers).
fn parse_version(text: &str) -> Option<(Vec<u64>, Vec<String>)> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let text = text.split('+').next().unwrap_or(text);
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, pre.split('.').map(str::to_string).collect()),
        None => (text, Vec::new()),
    };
    let mut numbers: Vec<u64> = core
        .split('.')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    numbers.resize(numbers.len().max(3), 0);
    Some((numbers, pre))
}

fn compare_prerelease(a: &[String], b: &[String]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in a.iter().zip(b) {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            a.len().cmp(&b.len())
        }
    }
}

/// The synced catalogs of this operator process, by MCPRegistry UID.
///
/// Catalogs live in memory and are fetched again when the operator starts
/// (the MCPRegistry controller syncs every registry once on start), because
/// they do not fit in the API: the public registry holds thousands of server
/// versions, far over the ~1.5 MiB an object (status or ConfigMap) may have.
/// While a catalog is being fetched again, MCPServers that reference it wait
/// without changing their workloads. Keyed by UID so that a registry deleted
/// and created again never serves the old catalog. Process-wide because the
/// MCPRegistry controller fills it and the MCPServer reconciler reads it.
static CATALOGS: LazyLock<RwLock<HashMap<String, Published>>> = LazyLock::new(Default::default);

struct Published {
    namespace: String,
    catalog: Arc<Catalog>,
}

/// Makes `catalog` the one MCPServers resolve against for the registry `uid`.
pub fn publish(uid: &str, namespace: &str, catalog: Arc<Catalog>) {
    CATALOGS.write().expect("catalog store lock").insert(
        uid.to_string(),
        Published {
            namespace: namespace.to_string(),
            catalog,
        },
    );
}

/// The catalog of the registry `uid`, if this process has synced it.
pub fn published(uid: &str) -> Option<Arc<Catalog>> {
    CATALOGS
        .read()
        .expect("catalog store lock")
        .get(uid)
        .map(|p| p.catalog.clone())
}

/// Keeps the catalogs for which `keep(uid, namespace)` holds.
pub fn retain(keep: impl Fn(&str, &str) -> bool) {
    CATALOGS
        .write()
        .expect("catalog store lock")
        .retain(|uid, published| keep(uid, &published.namespace));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::schema::read_entry;
    use serde_json::json;

    fn entry(name: &str, version: &str, status: &str, latest: Option<bool>) -> ServerResponse {
        let mut official = json!({"status": status});
        if let Some(latest) = latest {
            official["isLatest"] = json!(latest);
        }
        if status != "active" {
            official["statusMessage"] = json!(format!("{name} {version} is {status}"));
        }
        read_entry(json!({
            "server": {"name": name, "version": version},
            "_meta": {"io.modelcontextprotocol.registry/official": official}
        }))
        .unwrap()
    }

    fn sample() -> Vec<ServerResponse> {
        vec![
            entry("io.github.acme/weather", "1.9.0", "active", Some(false)),
            entry("io.github.acme/weather", "1.10.0", "active", None),
            entry("io.github.acme/weather", "1.0.0", "deprecated", Some(false)),
            entry(
                "io.github.acme/weather",
                "2.0.0-rc.1",
                "active",
                Some(false),
            ),
            entry("io.github.acme/legacy", "0.3.0", "deprecated", Some(true)),
            entry("io.github.acme/gone", "0.9.0", "deleted", Some(true)),
            entry("com.example/analytics", "3.0.0", "active", Some(true)),
        ]
    }

    #[test]
    fn versions_order_like_semver() {
        let mut versions = vec![
            "1.9.0",
            "1.10.0",
            "v1.2",
            "1.10.0-rc.1",
            "nightly",
            "1.10.0-rc.2",
        ];
        versions.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            versions,
            [
                "nightly",
                "v1.2",
                "1.9.0",
                "1.10.0-rc.1",
                "1.10.0-rc.2",
                "1.10.0"
            ]
        );
    }

    #[test]
    fn latest_is_the_registry_flag_or_the_highest_usable_version() {
        let catalog = Catalog::build(sample(), &RegistryFilter::default(), Vec::new());
        assert_eq!(catalog.entries(), 4, "{catalog:#?}");
        assert_eq!(catalog.servers(), 2);
        assert_eq!(catalog.withdrawn(), 3);
        let latest = catalog.find("io.github.acme/weather", LATEST).unwrap();
        assert_eq!(latest.version, "1.10.0", "no isLatest: highest version");
        let analytics = catalog.find("com.example/analytics", LATEST).unwrap();
        assert_eq!(analytics.version, "3.0.0");
        assert_eq!(
            catalog
                .find("io.github.acme/weather", "1.9.0")
                .unwrap()
                .version,
            "1.9.0"
        );
    }

    #[test]
    fn withdrawn_and_unknown_references_say_what_to_do() {
        let catalog = Catalog::build(sample(), &RegistryFilter::default(), Vec::new());
        let deprecated = catalog
            .find("io.github.acme/weather", "1.0.0")
            .unwrap_err()
            .to_string();
        assert_eq!(
            deprecated,
            "io.github.acme/weather 1.0.0 was deprecated in the registry (io.github.acme/weather 1.0.0 is deprecated); pick another version in spec.registry.version, or set spec.filter.includeDeprecated on the MCPRegistry to keep deprecated entries"
        );
        let deleted = catalog
            .find("io.github.acme/gone", LATEST)
            .unwrap_err()
            .to_string();
        assert!(
            deleted.starts_with("io.github.acme/gone 0.9.0 was deleted in the registry"),
            "{deleted}"
        );
        let unknown = catalog
            .find("io.github.someone/weather", LATEST)
            .unwrap_err()
            .to_string();
        assert_eq!(
            unknown,
            "the catalog has no server named \"io.github.someone/weather\" (did you mean io.github.acme/weather?); check spec.registry.server (names look like io.github.owner/name)"
        );
        let version = catalog
            .find("io.github.acme/weather", "3.0.0")
            .unwrap_err()
            .to_string();
        assert_eq!(
            version,
            "io.github.acme/weather has no version \"3.0.0\" in the catalog (it has: 2.0.0-rc.1, 1.10.0, 1.9.0); set spec.registry.version to one of them or to \"latest\""
        );
    }

    #[test]
    fn filters_select_names_search_version_and_deprecated() {
        let by_name = Catalog::build(
            sample(),
            &RegistryFilter {
                names: vec!["io.github.acme/*".into()],
                ..Default::default()
            },
            Vec::new(),
        );
        assert_eq!(by_name.servers(), 1);
        let search = Catalog::build(
            sample(),
            &RegistryFilter {
                search: Some("ANALYTICS".into()),
                ..Default::default()
            },
            Vec::new(),
        );
        assert_eq!(search.entries(), 1);
        let latest_only = Catalog::build(
            sample(),
            &RegistryFilter {
                version: Some(LATEST.into()),
                ..Default::default()
            },
            Vec::new(),
        );
        assert_eq!(latest_only.entries(), 2);
        let with_deprecated = Catalog::build(
            sample(),
            &RegistryFilter {
                include_deprecated: true,
                ..Default::default()
            },
            Vec::new(),
        );
        assert_eq!(with_deprecated.entries(), 6);
        assert_eq!(
            with_deprecated
                .find("io.github.acme/legacy", LATEST)
                .unwrap()
                .version,
            "0.3.0"
        );
    }
}
