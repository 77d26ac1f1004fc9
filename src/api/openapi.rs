//! The OpenAPI 3.1 document of the API, served at `/api/openapi.json`. Its schemas are generated
//! from the Rust types the API serializes (schemars, JSON Schema 2020-12, which OpenAPI 3.1
//! uses as is), and a test validates live responses against them, so the document cannot drift.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::envelope::Envelope;
use crate::projections::{decisions, groups, meetings, reports, timeline, work};
use crate::verify::Report;

/// Each listing path, with the type of its rows and fields the API adds to them.
pub const LISTINGS: &[(&str, &str, &[&str])] = &[
    ("meetings", "MeetingRow", &[]),
    ("decisions", "DecisionRow", &[]),
    ("mandates", "MandateRow", &[]),
    ("groups", "GroupRow", &[]),
    ("reports", "ReportRow", &["status"]),
    ("activities", "ActivityRow", &[]),
    ("agreements", "AgreementRow", &[]),
    ("timeline", "Entry", &[]),
    ("deadlines", "DeadlineRow", &["status"]),
    ("reminders", "ReminderRow", &["status"]),
];

fn param(name: &str, description: &str, example: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": "string"}, "example": example})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn rows_of(schema: &str, added: &[&str]) -> Value {
    let item = if added.is_empty() {
        json!({"$ref": format!("#/components/schemas/{schema}")})
    } else {
        let props: Map<String, Value> = added
            .iter()
            .map(|f| (f.to_string(), json!({"type": "string"})))
            .collect();
        json!({"allOf": [{"$ref": format!("#/components/schemas/{schema}")}, {"type": "object", "properties": props, "required": added}]})
    };
    json!({"type": "array", "items": item})
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    fn add<T: JsonSchema>(g: &mut schemars::SchemaGenerator) {
        g.subschema_for::<T>();
    }
    add::<meetings::MeetingRow>(&mut generator);
    add::<decisions::DecisionRow>(&mut generator);
    add::<decisions::MandateRow>(&mut generator);
    add::<groups::GroupRow>(&mut generator);
    add::<reports::ReportRow>(&mut generator);
    add::<reports::ActivityRow>(&mut generator);
    add::<reports::AgreementRow>(&mut generator);
    add::<timeline::Entry>(&mut generator);
    add::<work::DeadlineRow>(&mut generator);
    add::<work::ReminderRow>(&mut generator);
    add::<Envelope>(&mut generator);
    add::<Report>(&mut generator);
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "message": {"type": "string"},
            "line": {"type": "integer"}, "field": {"type": "string"}}}),
    );
    let axes = [
        param(
            "as_of",
            "What had happened by this domain date (YYYY-MM-DD).",
            "2021-03-31",
        ),
        param(
            "known_at",
            "What the log held at this recording instant (RFC 3339).",
            "2021-04-01T00:00:00Z",
        ),
    ];
    let filters = [
        param("body", "Only rows of this governing body.", "MC"),
        param("status", "Only rows with this status.", "tentative"),
        param(
            "from",
            "Only rows whose date ends on or after this day.",
            "2021-01-01",
        ),
        param(
            "to",
            "Only rows whose date starts on or before this day.",
            "2021-12-31",
        ),
    ];
    let mut paths = Map::new();
    let paging = [
        param("limit", "Rows per page, 1 to 10000 (1000 unless given).", "100"),
        param(
            "after",
            "The id of the last row of the previous page; the `Link` header (rel=\"next\") gives the next page's address.",
            "mc-cop-4",
        ),
        param("q", "Only rows whose id or title holds every word (any case).", "cop"),
    ];
    for (name, schema, added) in LISTINGS {
        let mut params: Vec<Value> = match *name {
            "deadlines" => vec![
                param("as_of", "The day to judge from (YYYY-MM-DD).", "2021-09-20"),
                param("within", "Only deadlines due within this span.", "90d"),
            ],
            "reminders" => vec![
                param("from", "Fire time from (RFC 3339).", "2021-12-01T00:00:00Z"),
                param("to", "Fire time up to (RFC 3339).", "2021-12-31T00:00:00Z"),
            ],
            "timeline" | "decisions" => {
                let mut p = axes.to_vec();
                p.extend(filters.iter().filter(|f| f["name"] != "status").cloned());
                p
            }
            _ => {
                let mut p = axes.to_vec();
                p.extend(filters.iter().cloned());
                p
            }
        };
        params.extend(paging.iter().cloned());
        paths.insert(
            format!("/api/{name}"),
            json!({"get": {"summary": format!("List {name}"), "parameters": params, "responses": {
                "200": {"description": "One page of rows; a `Link: <…>; rel=\"next\"` header names the next page when there is one.", "content": {"application/json": {"schema": rows_of(schema, added)}}},
                "400": error_response("A bad parameter, named in `field`."),
                "401": error_response("No valid bearer token.")}}}),
        );
    }
    paths.insert(
        "/api/events".into(),
        json!({
            "get": {"summary": "The audit trail, a page at a time", "parameters": [
                    param("since", "First seq.", "1"), param("limit", "Page size, 1 to 10000.", "100"),
                    param("stream", "Only this stream.", "meeting/mc-cop-4"), param("type", "Only this event type.", "DecisionAdopted")],
                "responses": {"200": {"description": "Events and the `since` of the next page.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["events", "next"], "properties": {
                        "events": {"type": "array", "items": {"$ref": "#/components/schemas/Envelope"}},
                        "next": {"type": ["integer", "null"]}}}}}},
                    "401": error_response("No valid bearer token.")}},
            "post": {"summary": "Record a batch (JSON Lines), all or nothing, with the rules of `accord record`",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "A key for this request: a retry under the same key records its events once (events without an id get ids from it); the same key with other content is a 409.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200}}],
                "requestBody": {"required": true, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {"description": "Recorded events and duplicates.", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["recorded", "duplicates"], "properties": {
                            "recorded": {"type": "array", "items": {"type": "object"}},
                            "duplicates": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": error_response("Bad input: `line` and `field` say where. Nothing written."),
                    "401": error_response("No valid bearer token."),
                    "403": error_response("The token may not record."),
                    "409": error_response("An expected position does not hold. Nothing written."),
                    "413": {"description": "The body is over 16 MiB. Nothing written."}}}
        }),
    );
    paths.insert(
        "/api/events/export".into(),
        json!({"get": {"summary": "Every record as JSON Lines, exactly as hashed, streamed", "responses": {
            "200": {"description": "The export.", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}}}),
    );
    paths.insert(
        "/api/verify".into(),
        json!({"get": {"summary": "The chain's status", "responses": {
            "200": {"description": "The verification report.", "content": {"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Report"}, {"type": "object", "required": ["intact"], "properties": {"intact": {"type": "boolean"}}}]}}}}}}}),
    );
    paths.insert(
        "/api/openapi.json".into(),
        json!({"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1."}}}}),
    );
    paths.insert(
        "/calendar.ics".into(),
        json!({"get": {"summary": "Meetings, segments and deadlines as an iCalendar feed",
            "parameters": [param("body", "Only this body.", "MC"), param("token", "A token, for clients that cannot send headers.", "acc_…")],
            "security": [], "responses": {"200": {"description": "RFC 5545.", "content": {"text/calendar": {"schema": {"type": "string"}}}}}}}),
    );
    paths.insert(
        "/healthz".into(),
        json!({"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}}),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text format 0.0.4."}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Accord", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Mandates, meetings, deadlines and the audit trail of convention secretariats."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
    })
}
