//! The OpenAPI document against the running server: every documented route answered for each
//! role (reader, recorder, admin, feed token, no token), every status it answers documented,
//! and every JSON answer valid against the schema the document gives for that status.

use serde_json::{json, Value};

use super::api::{call, json, token, Server};
use super::helpers::{history, Accord};

/// A compiled check of answers against one schema of the document.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("bad schema {schema}: {e}"))
}

/// Checks an answer against the document: its status is one the operation lists, and a JSON
/// body matches the schema given for that status.
fn check(doc: &Value, method: &str, path: &str, who: &str, status: u16, body: &str) {
    let op = &doc["paths"][path][method];
    let response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{who}: {} {path} answered {status}, which the document does not list (it lists {:?}): {body}",
        method.to_uppercase(),
        op["responses"].as_object().map(|r| r.keys().collect::<Vec<_>>())
    );
    if let Some(schema) = response["content"]
        .get("application/json")
        .map(|c| &c["schema"])
    {
        let value = json(body);
        let v = validator(doc, schema);
        let errors: Vec<String> = v
            .iter_errors(&value)
            .take(5)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{who}: {} {path} {status} does not match its schema: {errors:?}",
            method.to_uppercase()
        );
    }
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_role_gets_answers_the_openapi_document_describes() {
    let a = Accord::new();
    a.record(&history());
    super::helpers::future_meeting(&a);
    let tokens = [
        ("reader", Some(token(&a, "rita", "reader"))),
        ("recorder", Some(token(&a, "rob", "recorder"))),
        ("admin", Some(token(&a, "ada", "admin"))),
        ("feed", Some(token(&a, "phone", "feed"))),
        ("no token", None),
    ];
    let admin = tokens[2].1.clone().unwrap();
    let server = Server::start_with(&a, Some(&super::helpers::root().join("workflows")));
    super::api::wait_for(&server, &admin, "/api/reminders", "mc-cop-9");
    let (code, doc) = call("GET", &server.url("/api/openapi.json"), Some(&admin), None);
    assert_eq!(code, 200);
    let doc = json(&doc);
    assert_eq!(doc["openapi"], "3.1.0");

    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }

    // Parameters are typed, and only those a listing takes are listed.
    let param = |path: &str, name: &str| -> Option<Value> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    };
    let as_of = param("/api/meetings", "as_of").unwrap();
    assert_eq!(as_of["schema"]["format"], "date", "{as_of}");
    assert_eq!(
        param("/api/meetings", "known_at").unwrap()["schema"]["format"],
        "date-time"
    );
    let limit = param("/api/meetings", "limit").unwrap();
    assert_eq!(limit["schema"]["type"], "integer", "{limit}");
    assert_eq!(limit["schema"]["maximum"], 10000, "{limit}");
    assert_eq!(
        param("/api/meetings", "status").unwrap()["schema"]["enum"],
        json!([
            "tentative",
            "confirmed",
            "postponed",
            "adjourned",
            "suspended",
            "partly_held",
            "over",
            "cancelled"
        ])
    );
    assert!(param("/api/decisions", "status").is_none());
    assert!(param("/api/groups", "body").is_none());
    assert_eq!(
        param("/api/events", "since").unwrap()["schema"]["type"],
        "integer"
    );
    assert!(param("/api/events", "type").is_some());

    // Every GET route, as every role.
    let gets: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(p, _)| p.clone())
        .collect();
    assert!(gets.len() >= 17, "{gets:?}");
    let mut seen = std::collections::BTreeSet::new();
    for (who, t) in &tokens {
        for path in &gets {
            let (status, body) = call("GET", &server.url(path), t.as_deref(), None);
            check(&doc, "get", path, who, status, &body);
            seen.insert((path.clone(), status));
        }
    }
    // Readers see reminders without recipients, admins with; both match the schema.
    let reminders = |t: &str| json(&call("GET", &server.url("/api/reminders"), Some(t), None).1);
    let for_reader = reminders(tokens[0].1.as_deref().unwrap());
    assert!(!for_reader.as_array().unwrap().is_empty());
    assert!(for_reader[0].get("recipient").is_none(), "{for_reader}");
    assert!(reminders(&admin)[0].get("recipient").is_some());
    // Each listing answered rows to check, and the document's statuses were met.
    for path in [
        "/api/meetings",
        "/api/deadlines",
        "/api/reminders",
        "/api/events",
    ] {
        assert!(seen.contains(&(path.to_string(), 200)), "{path}");
        assert!(seen.contains(&(path.to_string(), 401)), "{path}");
        assert!(seen.contains(&(path.to_string(), 403)), "{path}");
    }
    assert!(seen.contains(&("/api/events/export".to_string(), 403)));

    // Bad parameters: 400, as documented, with the field named.
    for (path, query, field) in [
        ("/api/meetings", "limit=0", "limit"),
        ("/api/meetings", "as_of=someday", "as_of"),
        ("/api/meetings", "status=bogus", "query"),
        ("/api/deadlines", "within=soon", "within"),
        ("/api/reminders", "from=yesterday", "from"),
        ("/api/events", "limit=0", "limit"),
        ("/calendar.ics", "body=XX", "body"),
    ] {
        let (status, body) = call(
            "GET",
            &server.url(&format!("{path}?{query}")),
            Some(&admin),
            None,
        );
        assert_eq!(status, 400, "{path}?{query}: {body}");
        check(&doc, "get", path, "admin", status, &body);
        assert_eq!(json(&body)["field"], field, "{path}?{query}: {body}");
    }

    // Recording, as every role: a new event, then the same again (a duplicate), then bad input.
    for (i, (who, t)) in tokens.iter().enumerate() {
        let event = format!(
            r#"{{"type":"DocumentPosted","id":"openapi-{i}","occurred":"2021-06-01","actor":"x","data":{{"document":"UNEP/MC/COP.4/INF/{i}","meeting":"mc-cop-4.2","kind":"pre_session","title":"Note {i}"}}}}"#
        );
        for body in [event.as_str(), event.as_str(), "{\"type\":\"Nothing\"}"] {
            let (status, answer) =
                call("POST", &server.url("/api/events"), t.as_deref(), Some(body));
            check(&doc, "post", "/api/events", who, status, &answer);
            let expected = match (*who, body.starts_with("{\"type\":\"Nothing")) {
                ("recorder" | "admin", false) => 200,
                ("recorder" | "admin", true) => 400,
                ("reader" | "feed", _) => 403,
                _ => 401,
            };
            assert_eq!(status, expected, "{who}: {answer}");
        }
    }
    assert_eq!(server.stop(), Some(0));
}
