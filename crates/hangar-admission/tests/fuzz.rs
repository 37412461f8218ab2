//! Odd objects of every Hangar kind, built from the CRDs' own field names and
//! values near their rules' edges: judging never panics, and judging the
//! stored (pruned, defaulted) object again gives the same errors.

use hangar_admission::Admission;
use hangar_testenv::fuzz::{self, Unstructured};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Map, Value, json};

fn field_names(schema: &JSONSchemaProps, names: &mut Vec<String>) {
    for (name, property) in schema.properties.iter().flatten() {
        names.push(name.clone());
        field_names(property, names);
    }
    let below = schema.items.as_ref().and_then(|items| match items {
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s) => Some(s.as_ref()),
        _ => None,
    });
    if let Some(items) = below {
        field_names(items, names);
    }
}

const STRINGS: &[&str] = &[
    "",
    "0",
    "0s",
    "5m",
    "1h30m",
    "250µs",
    "1d",
    "-5s",
    "9999999999999999999h",
    "container",
    "remote",
    "stdio",
    "sse",
    "https://x.example.com/mcp",
    "ftp://x",
    "http://[::1",
    "/mcp",
    "10.0.0.0/8",
    "::1",
    "fd00::/129",
    "a/b",
    "ghcr.io/a/b:1@sha256:ab",
    "redis://r:6379",
    "rediss://r",
    "YQ==",
    "YQ=",
    "docs://a",
    "2026-12-03T00:00:00Z",
    "é",
    "*",
];

fn value(u: &mut Unstructured<'_>, names: &[String], depth: u32) -> fuzz::Result<Value> {
    let choice = if depth == 0 {
        u.int_in_range(0..=5)?
    } else {
        u.int_in_range(0..=7)?
    };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.choose(&[0i64, -1, 1, 65535, 65536, i64::MIN, i64::MAX])?),
        3 => json!(u.arbitrary::<f64>()?),
        4 => Value::String(u.choose(STRINGS)?.to_string()),
        5 => Value::String(u.arbitrary()?),
        6 => {
            let mut list = Vec::new();
            for _ in 0..u.int_in_range(0..=3)? {
                list.push(value(u, names, depth - 1)?);
            }
            Value::Array(list)
        }
        _ => {
            let mut map = Map::new();
            for _ in 0..u.int_in_range(0..=5)? {
                let name = if u.ratio(1, 8)? {
                    u.arbitrary()?
                } else {
                    u.choose(names)?.clone()
                };
                map.insert(name, value(u, names, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

#[test]
fn fuzz_odd_objects_are_judged_without_panicking() {
    let crds = hangar_api::crds();
    let admission = Admission::new(&crds);
    let mut names = Vec::new();
    for crd in &crds {
        for version in &crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
            {
                field_names(schema, &mut names);
            }
        }
    }
    let kinds: Vec<String> = crds.iter().map(|c| c.spec.names.kind.clone()).collect();
    fuzz::run("admission", |u| {
        let kind = u.choose(&kinds)?;
        let mut object = json!({
            "apiVersion": "mcp-hangar.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": "odd"},
            "spec": value(u, &names, 4)?,
        });
        let errors = admission.admit(&mut object);
        assert_eq!(admission.admit(&mut object), errors, "{object}");
        Ok(())
    });
}
