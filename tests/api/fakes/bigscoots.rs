//! A BigScoots Cache site (seed 002): the four endpoints behind WordPress
//! Basic auth with an application password, answering with the documented
//! success bodies, and WordPress's REST error shape for bad credentials.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::basic;

pub const USER: &str = "deploy";
const API: &str = "/wp-json/bigscoots-cache/v2";

pub struct BigScoots {
    pub server: MockServer,
}

fn success(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "success": true, "status": "success", "message": message
    }))
}

impl BigScoots {
    /// A site accepting `password` for [`USER`].
    pub async fn start(password: &str) -> BigScoots {
        let server = MockServer::start().await;
        let auth = basic(USER, password);
        for (verb, endpoint, message) in [
            (
                "PATCH",
                "clear-cache",
                "Your request to clear cache has been submitted! Please allow up to 30 seconds for this to take effect.",
            ),
            (
                "DELETE",
                "clear-opcache",
                "OPcache for your website has been cleared successfully!",
            ),
            (
                "PATCH",
                "enable-cache",
                "BigScoots Cache has been enabled successfully on your website.",
            ),
            (
                "PATCH",
                "disable-cache",
                "BigScoots Cache has been disabled successfully on your website.",
            ),
            (
                "DELETE",
                "clear-logs",
                "BigScoots Cache plugin log has been cleared successfully.",
            ),
        ] {
            Mock::given(method(verb))
                .and(path(format!("{API}/{endpoint}")))
                .and(header("authorization", auth.as_str()))
                .respond_with(success(message))
                .with_priority(5)
                .mount(&server)
                .await;
        }
        // Anything else: WordPress refuses unauthenticated REST calls.
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "code": "rest_forbidden",
                "message": "Sorry, you are not allowed to do that.",
                "data": {"status": 401}
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        BigScoots { server }
    }

    /// Makes the next `times` clear-cache calls fail with `status`.
    pub async fn fail_next(&self, times: u64, status: u16) {
        Mock::given(method("PATCH"))
            .and(path(format!("{API}/clear-cache")))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string("<html><body>upstream error</body></html>"),
            )
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Makes the next `times` clear-cache calls succeed only after `delay`.
    pub async fn slow_next(&self, times: u64, delay: std::time::Duration) {
        Mock::given(method("PATCH"))
            .and(path(format!("{API}/clear-cache")))
            .respond_with(
                success("Your request to clear cache has been submitted!").set_delay(delay),
            )
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The target table for this site.
    pub fn target(&self, id: &str, password: &str, extra: &str) -> String {
        format!(
            "[targets.{id}]\nprovider = \"bigscoots\"\nbase_url = \"{}\"\nusername = \"{USER}\"\npassword = \"{password}\"\n{extra}\n",
            self.uri()
        )
    }
}
