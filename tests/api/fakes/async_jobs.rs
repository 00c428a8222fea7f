//! The two asynchronous providers, as their documents describe them:
//! Oracle Content Management's site refresh (seed 001: 202 + `Location` of a
//! job polled until `succeeded`/`failed`, RFC 7807 errors with
//! `o:errorCode`) and the cache task API (seed 004: `{task_id, task_state}`
//! polled until `SUCCESS`/`FAILURE`).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "oauth-token-xyz";

fn authorized(request: &Request) -> bool {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

fn ocm_error(status: u16, title: &str, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "type": "http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        "title": title, "status": status.to_string(), "detail": format!("{title}."),
        "o:errorCode": code, "site": {"id": "FCA9C0E5CDCB549A19FFB85987A2352778961003B8A0"}
    }))
}

/// How the jobs of a site end: after `polls` reads, with `outcome`. The
/// first reads of a job status may hiccup (`hiccups`, answered in turn), and
/// a forgetful instance does not know the first job it started (404).
struct Ocm {
    jobs: Mutex<HashMap<String, u32>>,
    polls: u32,
    outcome: &'static str,
    hiccups: Mutex<Vec<ResponseTemplate>>,
    forgets_first_job: bool,
}

impl Respond for Ocm {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !authorized(request) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"title": "Unauthorized", "status": "401"}));
        }
        let path = request.url.path();
        if request.method.as_str() == "POST" {
            if request.headers.get("prefer").and_then(|v| v.to_str().ok()) != Some("respond-async")
            {
                return ResponseTemplate::new(400).set_body_json(json!({"title": "Bad Request", "detail": "This operation only supports asynchronous processing (Prefer: respond-async)."}));
            }
            let site = path
                .trim_start_matches("/sites/management/api/v1/sites/")
                .trim_end_matches("/refresh");
            return match site {
                "SITE1" | "name:Blog" => {
                    let mut jobs = self.jobs.lock().unwrap();
                    let job = format!("JOB{}", jobs.len() + 1);
                    jobs.insert(job.clone(), 0);
                    ResponseTemplate::new(202).insert_header(
                        "location",
                        format!("/sites/management/api/v1/sites/_status/{job}").as_str(),
                    )
                }
                "FORBIDDEN" => ocm_error(403, "Site Operation Forbidden", "OCE-SITEMGMT-009026"),
                "DELETED" => ocm_error(409, "Site Deleted", "OCE-SITEMGMT-009059"),
                _ => ocm_error(404, "Site Not Found", "OCE-SITEMGMT-009003"),
            };
        }
        let job = path.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(hiccup) = pop(&self.hiccups) {
            return hiccup;
        }
        let mut jobs = self.jobs.lock().unwrap();
        if self.forgets_first_job && job == "JOB1" {
            return ResponseTemplate::new(404).set_body_json(json!({"title": "Job Not Found"}));
        }
        let Some(reads) = jobs.get_mut(&job) else {
            return ResponseTemplate::new(404).set_body_json(json!({"title": "Job Not Found"}));
        };
        *reads += 1;
        if *reads <= self.polls {
            return ResponseTemplate::new(200).set_body_json(json!({
                "action": "refresh", "progress": "processing", "completed": false,
                "completedPercentage": 50, "intervalToPoll": 10
            }));
        }
        let mut body = json!({"action": "refresh", "progress": self.outcome, "completed": true, "completedPercentage": 100});
        if self.outcome == "failed" {
            body["error"] = json!({"detail": "The prerender service could not render 3 pages.", "o:errorCode": "OCE-PRE-001002"});
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn pop(hiccups: &Mutex<Vec<ResponseTemplate>>) -> Option<ResponseTemplate> {
    let mut hiccups = hiccups.lock().unwrap();
    (!hiccups.is_empty()).then(|| hiccups.remove(0))
}

/// An OCM instance whose refresh jobs run for `polls` reads and end with `outcome`.
pub async fn ocm(polls: u32, outcome: &'static str) -> MockServer {
    ocm_with(polls, outcome, Vec::new(), false).await
}

/// [`ocm`], whose job status reads first answer `hiccups` in turn, and which
/// does not know its first job when `forgets_first_job`.
pub async fn ocm_with(
    polls: u32,
    outcome: &'static str,
    hiccups: Vec<ResponseTemplate>,
    forgets_first_job: bool,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path_regex(r"^/sites/management/api/v1/sites/"))
        .respond_with(Ocm {
            jobs: Mutex::new(HashMap::new()),
            polls,
            outcome,
            hiccups: Mutex::new(hiccups),
            forgets_first_job,
        })
        .mount(&server)
        .await;
    server
}

struct Tasks {
    tasks: Mutex<HashMap<String, (String, u32)>>,
    hiccups: Mutex<Vec<ResponseTemplate>>,
}

impl Respond for Tasks {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !authorized(request) {
            return ResponseTemplate::new(401).set_body_json(json!({"detail": "Invalid token."}));
        }
        let mut tasks = self.tasks.lock().unwrap();
        if request.method.as_str() == "POST" {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let Some(title) = body["resource_title"].as_str() else {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({"resource_title": ["This field is required."]}));
            };
            let id = format!("task-{}", tasks.len() + 1);
            tasks.insert(id.clone(), (title.to_string(), 0));
            return ResponseTemplate::new(200)
                .set_body_json(json!({"task_id": id, "task_state": "PENDING"}));
        }
        if let Some(hiccup) = pop(&self.hiccups) {
            return hiccup;
        }
        let id = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "task_id")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let Some((title, reads)) = tasks.get_mut(&id) else {
            return ResponseTemplate::new(404).set_body_json(json!({"detail": "Not found."}));
        };
        *reads += 1;
        let state = match (*reads, title.as_str()) {
            (1, _) => "STARTED",
            (_, "broken") => "FAILURE",
            _ => "SUCCESS",
        };
        ResponseTemplate::new(200).set_body_json(json!({"task_id": id, "task_state": state}))
    }
}

/// A cache task server: tasks start PENDING, are STARTED at the first read,
/// and end SUCCESS (or FAILURE for the resource titled `broken`).
pub async fn tasks() -> MockServer {
    tasks_with(Vec::new()).await
}

/// [`tasks`], whose state reads first answer `hiccups` in turn.
pub async fn tasks_with(hiccups: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    let responder = std::sync::Arc::new(Tasks {
        tasks: Mutex::new(HashMap::new()),
        hiccups: Mutex::new(hiccups),
    });
    Mock::given(method("POST"))
        .and(path("/api/v1/cache/refresh/"))
        .respond_with(ArcRespond(responder.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/cache/state/"))
        .respond_with(ArcRespond(responder))
        .mount(&server)
        .await;
    server
}

struct ArcRespond(std::sync::Arc<Tasks>);

impl Respond for ArcRespond {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}
