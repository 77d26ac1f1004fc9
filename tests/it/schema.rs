//! `events/schema/` is generated from the Rust types and kept in step (UPDATE_SCHEMAS=1
//! rewrites it); every golden sample in `events/samples/` validates against both.

use super::helpers::root;

#[test]
fn schemas_match_the_types() {
    let dir = root().join("events/schema");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let all = accord::domain::schemas()
        .into_iter()
        .chain(accord::domain::old_schemas());
    for (ty, version, schema) in all {
        let mut value = serde_json::to_value(&schema).unwrap();
        value["$id"] = format!("https://accord.invalid/events/schema/{ty}.v{version}.json").into();
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let path = dir.join(format!("{ty}.v{version}.json"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        accord::domain::EVENT_TYPES.len() + accord::domain::old_schemas().len(),
        "one schema file per event type and readable version"
    );
    // Every earlier version kept has its schema file, and only those.
    for (ty, _) in accord::domain::EVENT_TYPES {
        for v in accord::domain::readable_versions(ty) {
            assert!(
                dir.join(format!("{ty}.v{v}.json")).exists(),
                "no schema for {ty} v{v}"
            );
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas (run UPDATE_SCHEMAS=1 cargo test schema): {stale:?}"
    );
}

#[test]
fn samples_validate_against_schema_and_types() {
    let samples = root().join("events/samples");
    for (ty, version) in accord::domain::EVENT_TYPES {
        let path = samples.join(format!("{ty}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("no sample {}", path.display()));
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("events/schema/{ty}.v{version}.json")))
                .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&data)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{ty}: sample fails its schema: {errors:?}"
        );
        let event = accord::domain::DomainEvent::decode(ty, *version, &data)
            .unwrap_or_else(|e| panic!("{ty}: sample fails the Rust type: {e}"));
        event.check().unwrap();
        // And the schema refuses what the type refuses: an unknown member.
        let mut extra = data.clone();
        extra["unexpected_member"] = 1.into();
        assert!(
            !validator.is_valid(&extra),
            "{ty}: schema accepts unknown members"
        );
        assert!(accord::domain::DomainEvent::decode(ty, *version, &extra).is_err());
    }
}

#[test]
fn history_events_validate_against_their_schemas() {
    let text =
        std::fs::read_to_string(root().join("events/history/minamata-brs-cooperation.jsonl"))
            .unwrap();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ty = v["type"].as_str().unwrap();
        let version = v["version"].as_u64().unwrap_or_else(|| {
            accord::domain::EVENT_TYPES
                .iter()
                .find(|(t, _)| *t == ty)
                .unwrap()
                .1 as u64
        });
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("events/schema/{ty}.v{version}.json")))
                .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        assert!(
            validator.is_valid(&v["data"]),
            "line {}: {ty} data fails its schema",
            i + 1
        );
    }
}
