use std::time::Duration;

use super::*;
use crate::job::Timestamp;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn records() -> Vec<Record> {
    let mut event = Record::new(Kind::Event, at(0), "accepted");
    event.event = Some("e1".into());
    event.jobs = vec!["j1".into(), "j2".into()];
    let mut job1 = Record::new(Kind::Job, at(0), "queued");
    job1.event = Some("e1".into());
    job1.job = Some("j1".into());
    job1.target = Some("cdn".into());
    job1.urls = vec!["https://a/1".into()];
    let mut job2 = job1.clone();
    job2.job = Some("j2".into());
    job2.urls = vec!["https://a/2".into()];
    let mut other = Record::new(Kind::Job, at(1), "queued");
    other.job = Some("j3".into());
    other.target = Some("edge".into());
    other.urls = vec!["https://a/3".into()];
    let mut call = Record::new(Kind::Call, at(5), "ok");
    call.call = Some("c1".into());
    call.target = Some("cdn".into());
    call.jobs = vec!["j1".into(), "j2".into(), "j9".into()];
    call.urls = vec!["https://a/1".into(), "https://a/2".into()];
    let mut verify = Record::new(Kind::Verify, at(9), "fresh");
    verify.call = Some("c1".into());
    verify.urls = vec!["https://a/2".into()];
    vec![event, job1, job2, other, call, verify]
}

fn kinds(answer: &[Record]) -> Vec<(&'static str, Option<&str>)> {
    answer
        .iter()
        .map(|r| (r.kind.as_str(), r.job.as_deref().or(r.call.as_deref())))
        .collect()
}

#[test]
fn a_job_finds_its_event_call_and_verification_newest_first() {
    let query = Query::from_pairs([("job", "j2")]).unwrap();
    let answer = select(records(), &query);
    assert_eq!(
        kinds(&answer),
        [
            ("verify", Some("c1")),
            ("call", Some("c1")),
            ("event", None),
            ("job", Some("j2"))
        ]
    );
}

#[test]
fn a_merged_job_finds_the_call_that_covered_it() {
    let query = Query::from_pairs([("job", "j9")]).unwrap();
    let answer = select(records(), &query);
    assert_eq!(
        kinds(&answer),
        [("verify", Some("c1")), ("call", Some("c1"))]
    );
}

#[test]
fn an_event_finds_its_jobs_and_their_calls() {
    let query = Query::from_pairs([("event", "e1")]).unwrap();
    let answer = select(records(), &query);
    assert_eq!(answer.len(), 5, "{answer:#?}");
    assert!(answer.iter().all(|r| r.job.as_deref() != Some("j3")));
}

#[test]
fn a_url_finds_the_job_that_asked_and_only_its_own_verification() {
    let query = Query::from_pairs([("url", "https://a/1")]).unwrap();
    let answer = select(records(), &query);
    assert_eq!(
        kinds(&answer),
        [("call", Some("c1")), ("event", None), ("job", Some("j1"))]
    );
}

#[test]
fn a_target_finds_its_own_records_only() {
    let query = Query::from_pairs([("target", "edge")]).unwrap();
    assert_eq!(kinds(&select(records(), &query)), [("job", Some("j3"))]);
}

#[test]
fn bad_parameters_are_named() {
    let error = Query::from_pairs([("url", "x"), ("since", "soon")]).unwrap_err();
    assert_eq!(error.parameter, "since");
    let error = Query::from_pairs([("colour", "red")]).unwrap_err();
    assert_eq!(error.parameter, "colour");
    assert!(Query::from_pairs([]).is_err());
    assert!(Query::from_pairs([("url", "a"), ("job", "b")]).is_err());
    assert_eq!(
        Query::from_pairs([("job", "")]).unwrap_err().parameter,
        "job"
    );
    let ok = Query::from_pairs([("job", "j"), ("since", "1h")]).unwrap();
    assert_eq!(ok.since, Some(Duration::from_secs(3600)));
}
