//! Documents to tools: what each operation becomes, what is skipped and why.

use hangar_config::{ArgumentLocation, HttpMethod};
use hangar_openapi::{Selection, convert};
use serde_json::{Value, json};

/// An OpenAPI 3.0 document in YAML with one operation of each kind the
/// conversion decides about.
const GARDEN: &str = r##"
openapi: 3.0.3
info: {title: Garden, version: "1"}
servers:
  - url: "https://{region}.garden.test/v1"
    variables: {region: {default: eu}}
paths:
  /plants/{plant_id}:
    parameters:
      - {name: plant_id, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getPlant
      summary: One plant
      tags: [plants]
      parameters:
        - {name: fields, in: query, schema: {type: array, items: {type: string}}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: Authorization, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses:
        "200":
          description: the plant
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Plant"}
    put:
      operationId: water plant!
      tags: [care]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [litres]
              properties:
                litres: {type: number, minimum: 0, exclusiveMinimum: true}
                plant_id: {type: string}
      responses: {"204": {description: watered}}
  /plants:
    post:
      operationId: addPlants
      tags: [plants]
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: array, items: {$ref: "#/components/schemas/Plant"}}
      responses:
        "201":
          description: added
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Plant"}}
    head:
      operationId: countPlants
      responses: {"200": {description: ok}}
  /photos:
    post:
      operationId: uploadPhoto
      tags: [plants]
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, properties: {file: {type: string, format: binary}}}
      responses: {"201": {description: stored}}
  /search:
    get:
      operationId: search
      tags: [plants]
      parameters:
        - {name: filter, in: query, style: deepObject, schema: {type: object}}
      responses: {"200": {description: found}}
  /login:
    post:
      operationId: login
      tags: [admin]
      parameters:
        - {name: sid, in: cookie, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Plant:
      type: object
      required: [name]
      properties:
        name: {type: string}
        height: {type: number, nullable: true}
        parent: {$ref: "#/components/schemas/Plant"}
"##;

fn everything() -> hangar_openapi::Conversion {
    convert(GARDEN, &Selection::default()).unwrap()
}

fn tool<'a>(
    conversion: &'a hangar_openapi::Conversion,
    name: &str,
) -> &'a hangar_openapi::OperationTool {
    conversion
        .tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no tool {name} in {:?}",
                conversion.tools.iter().map(|t| &t.name).collect::<Vec<_>>()
            )
        })
}

#[test]
fn every_operation_is_a_tool_or_a_reason() {
    let conversion = everything();
    assert_eq!(conversion.operations, 7);
    let names: Vec<&str> = conversion.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["addPlants", "getPlant", "water_plant"]);
    let skipped: Vec<(String, String)> = conversion
        .skipped
        .iter()
        .map(|s| (s.operation.clone(), s.reason.clone()))
        .collect();
    let reason = |operation: &str| {
        skipped
            .iter()
            .find(|(o, _)| o == operation)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{operation} not skipped: {skipped:?}"))
    };
    assert!(reason("HEAD /plants (countPlants)").contains("HEAD is not a method"));
    assert!(reason("POST /photos (uploadPhoto)").contains("multipart/form-data only"));
    assert!(reason("GET /search (search)").contains("`filter`"));
    assert!(reason("POST /login (login)").contains("cookie parameter `sid`"));
    assert_eq!(skipped.len(), 4);
    assert_eq!(
        conversion.server_url.as_deref(),
        Some("https://eu.garden.test/v1")
    );
}

#[test]
fn parameters_become_placed_arguments_and_3_0_schemas_read_as_3_1() {
    let conversion = everything();
    let get = tool(&conversion, "getPlant");
    assert_eq!(get.method, HttpMethod::Get);
    assert_eq!(get.path, "/plants/{plant_id}");
    assert_eq!(get.title.as_deref(), Some("One plant"));
    let placed: Vec<(&str, ArgumentLocation, Option<&str>)> = get
        .arguments
        .iter()
        .map(|p| (p.argument.as_str(), p.location, p.name.as_deref()))
        .collect();
    // Authorization is the gateway's, the optional cookie is left out.
    assert_eq!(
        placed,
        [
            ("plant_id", ArgumentLocation::Path, None),
            ("fields", ArgumentLocation::Query, None),
            ("X-Trace", ArgumentLocation::Header, None),
        ]
    );
    let input = Value::Object(get.input_schema.clone());
    assert_eq!(input["required"], json!(["plant_id"]));
    assert_eq!(input["properties"]["plant_id"], json!({"type": "integer"}));
    assert!(input.get("$defs").is_none(), "{input}");
    let output = Value::Object(get.output_schema.clone().unwrap());
    assert_eq!(output["type"], "object");
    assert_eq!(
        output["properties"]["height"]["type"],
        json!(["number", "null"])
    );
    assert_eq!(output["properties"]["parent"]["$ref"], "#/$defs/Plant");
    let validator = jsonschema::validator_for(&output).unwrap();
    assert!(
        validator.is_valid(&json!({"name": "fern", "height": null, "parent": {"name": "moss"}}))
    );
    assert!(!validator.is_valid(&json!({"name": "fern", "parent": {"height": 1}})));
    assert_eq!(get.annotations.read_only_hint, Some(true));
}

#[test]
fn bodies_spread_into_arguments_unless_a_name_is_taken_or_they_are_not_objects() {
    let conversion = everything();
    // `plant_id` is both a path parameter and a body property: the body stays whole.
    let water = tool(&conversion, "water_plant");
    let body = water
        .arguments
        .iter()
        .find(|p| p.location == ArgumentLocation::WholeBody)
        .unwrap();
    assert_eq!(body.argument, "body");
    let input = Value::Object(water.input_schema.clone());
    assert_eq!(input["required"], json!(["plant_id", "body"]));
    assert_eq!(
        input["properties"]["body"]["properties"]["litres"]["exclusiveMinimum"],
        json!(0)
    );
    assert_eq!(water.output_schema, None);
    assert_eq!(water.annotations.idempotent_hint, Some(true));
    // An array body is one argument; an array result has no outputSchema.
    let add = tool(&conversion, "addPlants");
    let input = Value::Object(add.input_schema.clone());
    assert_eq!(
        input["properties"]["body"]["items"]["$ref"],
        "#/$defs/Plant"
    );
    assert!(input["$defs"]["Plant"].is_object());
    assert_eq!(add.output_schema, None);
    let validator = jsonschema::validator_for(&input).unwrap();
    assert!(validator.is_valid(&json!({"body": [{"name": "rose"}]})));
    assert!(!validator.is_valid(&json!({"body": [{"height": 2}]})));
}

#[test]
fn an_object_body_spreads_into_body_arguments() {
    let document = r##"{
      "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
      "paths": {"/notes": {"post": {
        "operationId": "add_note",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Note"}}}},
        "responses": {"201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Note"}}}}}
      }}},
      "components": {"schemas": {"Note": {"type": "object", "required": ["text"],
        "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}
    }"##;
    let conversion = convert(document, &Selection::default()).unwrap();
    let add = &conversion.tools[0];
    let placed: Vec<(&str, ArgumentLocation)> = add
        .arguments
        .iter()
        .map(|p| (p.argument.as_str(), p.location))
        .collect();
    assert_eq!(
        placed,
        [
            ("tags", ArgumentLocation::Body),
            ("text", ArgumentLocation::Body)
        ]
    );
    let input = Value::Object(add.input_schema.clone());
    assert_eq!(input["required"], json!(["text"]));
    let output = Value::Object(add.output_schema.clone().unwrap());
    assert_eq!(output["required"], json!(["text"]));
    assert_eq!(conversion.server_url, None);
}

#[test]
fn the_selection_filters_by_tag_operation_and_method() {
    let by_tag = convert(
        GARDEN,
        &Selection {
            tags: vec!["care".into()],
            ..Selection::default()
        },
    )
    .unwrap();
    assert_eq!(by_tag.tools.len(), 1);
    assert_eq!(by_tag.tools[0].name, "water_plant");
    assert!(by_tag.skipped.is_empty(), "{:?}", by_tag.skipped);
    assert_eq!(by_tag.operations, 7);
    let by_method = convert(
        GARDEN,
        &Selection {
            methods: vec![HttpMethod::Get],
            operation_ids: vec!["getPlant".into(), "search".into()],
            ..Selection::default()
        },
    )
    .unwrap();
    assert_eq!(by_method.tools.len(), 1);
    assert_eq!(by_method.skipped.len(), 1, "search is selected and skipped");
}

#[test]
fn no_document_makes_the_conversion_panic() {
    hangar_testenv::fuzz::run("openapi documents", |u| {
        // Start from the garden with bytes changed, cut or inserted, so that
        // most inputs are nearly valid documents.
        let mut text = GARDEN.as_bytes().to_vec();
        for _ in 0..u.int_in_range(1..=8)? {
            let at = u.int_in_range(0..=text.len() - 1)?;
            match u.int_in_range(0..=2)? {
                0 => text[at] = u.arbitrary()?,
                1 => {
                    text.truncate(at.max(1));
                }
                _ => text.insert(at, u.arbitrary()?),
            }
            if text.is_empty() {
                break;
            }
        }
        let text = String::from_utf8_lossy(&text);
        let _ = convert(&text, &Selection::default());
        let arbitrary: String = u.arbitrary()?;
        let _ = convert(&arbitrary, &Selection::default());
        Ok(())
    });
}
