use serde_json::{Value, json};

use super::*;

fn field_of(value: Value) -> String {
    Action::from_json(value).unwrap_err().field
}

/// A valid object for `kind`, built from its spec alone.
fn sample(kind: ActionKind) -> Value {
    let spec = kind.spec();
    let mut object = json!({ "kind": spec.name });
    for field in spec.fields {
        object[field.name] = match field.shape {
            Shape::Flag => json!(true),
            Shape::Texts => json!(["https://site.example/a/"]),
            Shape::Ids => json!([1, 2]),
            Shape::Text => json!("x"),
            Shape::Params => json!({"id": 7}),
        };
    }
    object
}

#[test]
fn every_kind_parses_from_its_spec_and_round_trips_through_json() {
    for kind in ActionKind::ALL {
        let action = Action::from_json(sample(*kind)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(action.kind(), *kind);
        assert_eq!(kind.as_str().parse::<ActionKind>(), Ok(*kind));
        let wire = serde_json::to_value(&action).unwrap();
        assert_eq!(wire["kind"], json!(kind.as_str()));
        assert_eq!(Action::from_json(wire).unwrap(), action);
        action.validate().unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn every_spec_names_its_markers_and_fields_once() {
    for kind in ActionKind::ALL {
        let spec = kind.spec();
        assert!(
            spec.marker_is_flag() || spec.field_by_rule_key(spec.rule_marker).is_some(),
            "{kind}: the rule marker must be a flag or a field's rule key"
        );
        let flagged = spec.field_by_flag(spec.flag_marker).is_some();
        assert!(
            flagged || spec.marker_is_flag(),
            "{kind}: the flag marker must be a field's flag, or the kind a flag"
        );
        let mut names: Vec<&str> = spec.fields.iter().map(|f| f.name).collect();
        names.dedup();
        assert_eq!(names.len(), spec.fields.len(), "{kind}");
    }
}

#[test]
fn errors_name_the_field_inside_the_action() {
    assert_eq!(
        field_of(json!({"kind": "post_ids", "post_ids": [1, "x"]})),
        "post_ids[1]"
    );
    assert_eq!(field_of(json!({"kind": "sideways"})), "kind");
    assert_eq!(field_of(json!({"urls": []})), "kind");
    assert_eq!(field_of(json!({"kind": "urls"})), "urls");
    assert_eq!(
        field_of(json!({"kind": "urls", "urls": "https://a/"})),
        "urls"
    );
    assert_eq!(
        field_of(json!({"kind": "tags", "tags": ["a"], "full": true})),
        "full"
    );
    assert_eq!(
        field_of(json!({"kind": "scopes", "scopes": ["a"], "full": "yes"})),
        "full"
    );
    assert_eq!(field_of(json!(["urls"])), "");
}

#[test]
fn validation_names_the_field() {
    let empty = Action::Urls { urls: vec![] };
    assert_eq!(empty.validate().unwrap_err().field, "urls");
    let relative = Action::Urls {
        urls: vec!["/blog/".into()],
    };
    assert!(
        relative
            .validate()
            .unwrap_err()
            .problem
            .contains("absolute")
    );
    let zero = Action::PostIds {
        post_ids: vec![0],
        related: false,
    };
    assert_eq!(zero.validate().unwrap_err().field, "post_ids");
    let too_many = Action::Tags {
        tags: vec!["t".into(); MAX_ACTION_ITEMS + 1],
    };
    assert!(too_many.validate().unwrap_err().problem.contains("at most"));
}

#[test]
fn unknown_action_fields_are_rejected() {
    let extra = r#"{"kind":"urls","urls":["https://a.example/"],"color":"red"}"#;
    assert!(serde_json::from_str::<Action>(extra).is_err());
}
