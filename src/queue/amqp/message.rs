//! A job message's body on RabbitMQ: one v1 job (DESIGN.md's job message),
//! or a JSON array of v1 jobs, all for the routing key's target — what a
//! process's group commit publishes when several requests' jobs for one
//! target are ready together ([`super::commit`]). Producers may publish
//! either; a worker reads both.

use serde_json::value::RawValue;

use crate::job::{Job, TargetId};

/// The body carrying `jobs` (each already a v1 job's JSON): the job itself
/// when there is one, else their array.
pub(super) fn body<'a>(jobs: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut jobs = jobs.peekable();
    if jobs.len() == 1 {
        return jobs.next().map(<[u8]>::to_vec).unwrap_or_default();
    }
    let mut body = Vec::with_capacity(jobs.len() * 512);
    body.push(b'[');
    while let Some(job) = jobs.next() {
        body.extend_from_slice(job);
        if jobs.peek().is_some() {
            body.push(b',');
        }
    }
    body.push(b']');
    body
}

/// The jobs a message carries for `target`, or why it is not a valid job
/// message of that target's queue (naming the job, in an array).
pub(super) fn jobs_of(bytes: &[u8], target: &TargetId) -> Result<Vec<Job>, String> {
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !is_array {
        let job = Job::from_bytes(bytes).map_err(|e| e.to_string())?;
        return routed_to(job, target).map(|job| vec![job]);
    }
    let parts: Vec<&RawValue> =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    if parts.is_empty() {
        return Err("an empty array of jobs".into());
    }
    let count = parts.len();
    let nth = |i: usize, why: String| format!("job {} of the array's {count}: {why}", i + 1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let job = Job::from_bytes(part.get().as_bytes()).map_err(|e| nth(i, e.to_string()))?;
            routed_to(job, target).map_err(|why| nth(i, why))
        })
        .collect()
}

/// `job`, if it names the `target` whose queue it came from.
fn routed_to(job: Job, target: &TargetId) -> Result<Job, String> {
    if job.target == *target {
        return Ok(job);
    }
    Err(format!(
        "the job names target {:?} but was routed to {target:?}",
        job.target
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    fn job(target: &str) -> Job {
        Job::new(TargetId::new(target).unwrap(), Action::EVERYTHING, None)
    }

    fn bytes(jobs: &[Job]) -> Vec<Vec<u8>> {
        jobs.iter().map(|j| j.to_bytes().unwrap()).collect()
    }

    #[test]
    fn one_job_is_published_as_itself_and_several_as_their_array() {
        let jobs = [job("blog"), job("blog"), job("blog")];
        let encoded = bytes(&jobs);
        let one = body(encoded[..1].iter().map(Vec::as_slice));
        assert_eq!(one, encoded[0], "a single job is the v1 message as it was");
        let all = body(encoded.iter().map(Vec::as_slice));
        assert_eq!(all[0], b'[');
        let target = TargetId::new("blog").unwrap();
        let read: Vec<_> = jobs_of(&all, &target).unwrap();
        let ids: Vec<_> = read.iter().map(|j| j.id).collect();
        assert_eq!(ids, jobs.iter().map(|j| j.id).collect::<Vec<_>>());
        assert_eq!(jobs_of(&one, &target).unwrap()[0].id, jobs[0].id);
    }

    #[test]
    fn an_invalid_array_names_the_job_that_is_wrong() {
        let target = TargetId::new("blog").unwrap();
        let good = String::from_utf8(job("blog").to_bytes().unwrap()).unwrap();
        let other = String::from_utf8(job("shop").to_bytes().unwrap()).unwrap();
        let cases = [
            (" [] ".to_string(), "an empty array of jobs"),
            (
                format!("[{good},{{\"v\":2}}]"),
                "job 2 of the array's 2: unsupported schema version 2",
            ),
            (
                format!("[{good},{other}]"),
                "job 2 of the array's 2: the job names target \"shop\" but was routed to \"blog\"",
            ),
            (format!("[{good},"), "not valid JSON"),
            (other, "the job names target \"shop\""),
        ];
        for (message, expected) in cases {
            let why = jobs_of(message.as_bytes(), &target).unwrap_err();
            assert!(why.starts_with(expected), "{message}: {why}");
        }
    }
}
