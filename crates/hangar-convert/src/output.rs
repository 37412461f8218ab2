//! Writing a [`Conversion`] out: multi-document YAML with each object's report
//! as a comment above it, one file per object for `-o DIR`, and the summary
//! for stderr. Keys are sorted and nothing depends on time or order of maps, so
//! the same input gives the same output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::sorted;
use crate::{Conversion, Disposition, Item};

/// Every item as one multi-document YAML stream, in input order.
pub fn yaml(conversion: &Conversion) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for item in &conversion.items {
        out.push_str(&document(item)?);
    }
    Ok(out)
}

/// One file per written object, `NAMESPACE/KIND-NAME.yaml` (`KIND-NAME.yaml`
/// without a namespace), relative to the output directory. Objects that land
/// on the same path share the file as separate documents.
pub fn files(conversion: &Conversion) -> Result<Vec<(PathBuf, String)>, serde_saphyr::ser::Error> {
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for item in &conversion.items {
        let Some(object) = &item.object else { continue };
        files
            .entry(file_name(object))
            .or_default()
            .push_str(&document(item)?);
    }
    Ok(files.into_iter().collect())
}

fn file_name(object: &Value) -> PathBuf {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let kind = safe(&text("/kind").unwrap_or("object").to_lowercase());
    let name = safe(text("/metadata/name").unwrap_or("unnamed"));
    let file = format!("{kind}-{name}.yaml");
    match text("/metadata/namespace") {
        Some(namespace) => PathBuf::from(safe(namespace)).join(file),
        None => PathBuf::from(file),
    }
}

/// Kubernetes names are DNS names; anything else cannot escape the directory.
fn safe(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.chars().all(|c| c == '.') {
        "_".into()
    } else {
        cleaned
    }
}

/// `---`, the item's report as comments, then its object (if it has one).
fn document(item: &Item) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::from("---\n");
    for line in header(item) {
        writeln!(out, "# {}", one_line(&line)).expect("writing to a String");
    }
    if let Some(object) = &item.object {
        out.push_str(&serde_saphyr::to_string(&sorted(object))?);
    }
    Ok(out)
}

fn header(item: &Item) -> Vec<String> {
    let origin = &item.origin;
    let mut lines = vec![match item.disposition {
        Disposition::Converted(_) => format!(
            "Converted by `hangar convert` from {origin} ({}).",
            origin.position
        ),
        Disposition::Hangar => format!(
            "Already {}/{} ({}): copied unchanged by `hangar convert`.",
            hangar_api::GROUP,
            hangar_api::VERSION,
            origin.position
        ),
        Disposition::PassedThrough => format!(
            "Not an MCP resource ({}): copied unchanged by `hangar convert`.",
            origin.position
        ),
    }];
    if !item.unmapped.is_empty() {
        lines.push("Not carried over (no Hangar equivalent):".into());
        for unmapped in &item.unmapped {
            lines.push(format!("  {}: {}", unmapped.path, unmapped.reason));
        }
    }
    for note in &item.notes {
        lines.push(format!("Note: {note}"));
    }
    lines
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// What `hangar convert` prints on stderr: each object, what it became, and
/// every field not carried over.
pub fn summary(conversion: &Conversion) -> String {
    let mut out = String::new();
    let mut converted = 0;
    let mut copied = 0;
    for item in &conversion.items {
        let origin = &item.origin;
        match (&item.disposition, &item.object) {
            (Disposition::Converted(_), Some(object)) => {
                converted += 1;
                let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
                let namespace = text("/metadata/namespace")
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{origin} → {} {namespace}{}",
                    text("/kind").unwrap_or_default(),
                    text("/metadata/name").unwrap_or_default()
                );
            }
            (Disposition::Converted(_), None) => {
                converted += 1;
                let _ = writeln!(out, "{origin} → no object");
            }
            (Disposition::Hangar, _) => {
                copied += 1;
                let _ = writeln!(out, "{origin}: already Hangar's, copied unchanged");
            }
            (Disposition::PassedThrough, _) => {
                copied += 1;
                let _ = writeln!(out, "{origin}: not an MCP resource, copied unchanged");
            }
        }
        for unmapped in &item.unmapped {
            let _ = writeln!(
                out,
                "    not carried over: {}: {}",
                unmapped.path,
                one_line(&unmapped.reason)
            );
        }
        for note in &item.notes {
            let _ = writeln!(out, "    note: {}", one_line(note));
        }
    }
    let fields = conversion.unmapped_count();
    let _ = write!(
        out,
        "hangar convert: {converted} object(s) converted, {copied} copied unchanged; "
    );
    if fields == 0 {
        out.push_str("every field carried over\n");
    } else {
        let _ = writeln!(
            out,
            "{fields} field(s) not carried over (listed above and in a comment above each object; --strict makes this an error)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names_stay_inside_the_directory() {
        let object =
            json!({"kind": "MCPServer", "metadata": {"name": "../x", "namespace": "team/a"}});
        assert_eq!(
            file_name(&object),
            PathBuf::from("team_a/mcpserver-.._x.yaml")
        );
        let object = json!({"kind": "Secret", "metadata": {"name": ".."}});
        assert_eq!(file_name(&object), PathBuf::from("secret-_.yaml"));
    }
}
