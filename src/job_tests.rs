use super::*;

#[test]
fn design_example_round_trips() {
    let wire = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"blog",
        "action":{"kind":"post_ids","post_ids":[42,43],"related":true},
        "event":{"source":"wp","type":"post.published","delivery_id":"msg_2Kx"},
        "created_at":"2026-11-23T20:31:00Z","attempt":0}"#;
    let job = Job::from_bytes(wire).expect("valid job");
    assert_eq!(
        job.action,
        Action::PostIds {
            post_ids: vec![42, 43],
            related: true
        }
    );
    assert_eq!(job.target.as_str(), "blog");
    assert_eq!(job.created_at.to_string(), "2026-11-23T20:31:00Z");
    assert_eq!(
        Job::from_bytes(&job.to_bytes().unwrap()).expect("round trip"),
        job
    );
}

#[test]
fn producers_may_write_the_time_with_an_offset() {
    let wire = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"blog",
        "action":{"kind":"everything"},"created_at":"2026-11-23T21:31:00+01:00"}"#;
    let job = Job::from_bytes(wire).expect("valid job");
    assert_eq!(job.created_at.to_string(), "2026-11-23T20:31:00Z");
}

#[test]
fn wrong_version_bad_targets_and_bad_actions_are_named() {
    let v2 = br#"{"v":2,"id":"0193a6f0-0000-7000-8000-000000000000","target":"b","action":{"kind":"everything"},"created_at":"x"}"#;
    assert!(matches!(Job::from_bytes(v2), Err(InvalidJob::Version(_))));
    let bad_target = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"a b","action":{"kind":"everything"},"created_at":"2026-11-23T20:31:00Z"}"#;
    let error = Job::from_bytes(bad_target).unwrap_err().to_string();
    assert!(
        error.contains("target") && error.contains("not a target id"),
        "{error}"
    );
    let bad_field = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"a","action":{"kind":"post_ids","post_ids":[1,"x"]},"created_at":"2026-11-23T20:31:00Z"}"#;
    match Job::from_bytes(bad_field) {
        Err(InvalidJob::Action(invalid)) => assert_eq!(invalid.field, "post_ids[1]"),
        other => panic!("{other:?}"),
    }
    let relative = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"a","action":{"kind":"urls","urls":["/blog/"]},"created_at":"2026-11-23T20:31:00Z"}"#;
    assert!(
        Job::from_bytes(relative)
            .unwrap_err()
            .to_string()
            .contains("absolute")
    );
    assert!(Job::from_bytes(b"not json").is_err());
}

#[test]
fn target_ids_are_checked() {
    assert!(TargetId::new("blog-2_x").is_ok());
    for bad in ["", "a b", "a.b", "é", "a/b"] {
        assert!(TargetId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_repurge_count_is_read_and_written_only_when_there_is_one() {
    let wire = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"blog",
        "action":{"kind":"urls","urls":["https://a.example/"]},"created_at":"2026-11-23T20:31:00Z",
        "repurge":2}"#;
    let job = Job::from_bytes(wire).expect("valid job");
    assert_eq!(job.repurge, 2);
    let fresh = Job::new(job.target.clone(), job.action.clone(), None);
    let text = String::from_utf8(fresh.to_bytes().unwrap()).unwrap();
    assert!(!text.contains("repurge"), "{text}");
    let again = Job::from_bytes(&job.to_bytes().unwrap()).unwrap();
    assert_eq!(again.repurge, 2);
}
