//! The WordPress plugin (`integrations/wordpress/purgehook.php`) in a real
//! WordPress (Debian's `wordpress`, `php-cli`, MariaDB), driven from php-cli
//! by `tests/wordpress/drive.php` (one editorial action = one php process =
//! one WordPress request), against the app with a `standard` source and an
//! `http` provider posting to a local recorder. Each action must make
//! exactly the deliveries `tests/wordpress/README.md` lists, each verified
//! by purgehook (202, counted by its metrics), and the purge they ask for.
//!
//! Needs root (setup may `apt-get install`, and makes databases as
//! MariaDB's root): without WordPress and php, and with `CI` unset, it says
//! how to run it and passes; under `CI` it always runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, WP_SECRET, eventually, spawn_app};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether this machine can run the test, or why not.
fn unavailable() -> Option<&'static str> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root {
        return Some("it must run as root");
    }
    let installed = Path::new("/usr/share/wordpress/wp-load.php").exists()
        && Command::new("php").arg("-v").output().is_ok()
        && Command::new("mariadb").arg("--version").output().is_ok();
    (!installed).then_some("wordpress, php-cli, php-mysql and mariadb-server are not installed")
}

/// A throwaway WordPress made by `tests/wordpress/setup.sh`, removed with
/// its database when dropped.
struct Site {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Site {
    fn set_up() -> Site {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("wp");
        let out = Command::new(repo().join("tests/wordpress/setup.sh"))
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "setup.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Site {
            dir,
            _parent: parent,
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/wordpress/teardown.sh"))
            .arg(&self.dir)
            .output();
    }
}

/// The site, purgehook, and the recorder behind its `http` target.
struct Bench {
    site: Site,
    app: TestApp,
    recorder: MockServer,
    hook: String,
}

impl Bench {
    /// Runs `drive.php ACTION ARGS` with `secret` and returns its report.
    async fn drive(&self, action: &str, args: &[&str], secret: &str) -> Value {
        let mut command = Command::new("php");
        command
            .arg(repo().join("tests/wordpress/drive.php"))
            .arg(&self.site.dir)
            .arg(action)
            .args(args)
            .env("PURGEHOOK_URL", &self.hook)
            .env("PURGEHOOK_SECRET", secret);
        // The app runs on this runtime: wait for php off it.
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "drive.php {action}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
    }

    /// Events purgehook's metrics count for the source, by outcome.
    async fn outcomes(&self) -> Vec<(String, f64)> {
        let url = format!("{}/metrics", self.app.address);
        let text = self
            .app
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("purgehook_webhooks_total{") && l.contains("source=\"wordpress\"")
            })
            .filter_map(|l| {
                let outcome = l.split("outcome=\"").nth(1)?.split('"').next()?;
                Some((outcome.to_string(), l.rsplit(' ').next()?.parse().ok()?))
            })
            .collect()
    }

    /// The actions the recorder received.
    async fn purges(&self) -> Vec<Value> {
        let requests = self.recorder.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// Runs one action and checks it: the plugin's deliveries as expected,
    /// each accepted by purgehook, and the purge each asked for. Returns
    /// the report.
    async fn step(&self, action: &str, args: &[&str]) -> Value {
        let (before, purged) = (self.outcomes().await, self.purges().await.len());
        let report = self.drive(action, args, WP_SECRET).await;
        let expect = &report["expect"];
        let deliveries = report["deliveries"].as_array().unwrap();
        let what = format!("{action} {args:?}: {report}");
        assert_eq!(
            deliveries.len() as u64,
            expect["deliveries"].as_u64().unwrap(),
            "{what}"
        );
        let after = self.outcomes().await;
        let accepted = count(&after, "accepted") - count(&before, "accepted");
        let refused = total(&after) - total(&before) - accepted;
        assert_eq!(
            (accepted, refused),
            (deliveries.len() as f64, 0.0),
            "{what}"
        );
        let purges = eventually(Duration::from_secs(10), "the purges", || async {
            let purges = self.purges().await;
            (purges.len() >= purged + deliveries.len()).then_some(purges)
        })
        .await;
        for (delivery, purge) in deliveries.iter().zip(&purges[purged..]) {
            assert_eq!(delivery["code"], 202, "{what}");
            check_delivery(&report, delivery, purge);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            self.purges().await.len(),
            purged + deliveries.len(),
            "{what}: extra purges"
        );
        report
    }
}

fn count(outcomes: &[(String, f64)], outcome: &str) -> f64 {
    outcomes
        .iter()
        .filter(|(o, _)| o == outcome)
        .map(|(_, n)| n)
        .sum()
}

fn total(outcomes: &[(String, f64)]) -> f64 {
    outcomes.iter().map(|(_, n)| n).sum()
}

/// One delivery against what the driver computed with WordPress's own
/// functions, and the purge it made against its payload.
fn check_delivery(report: &Value, delivery: &Value, purge: &Value) {
    let (expect, data) = (&report["expect"], &delivery["payload"]["data"]);
    let what = format!("{}: {delivery}", report["action"]);
    assert_eq!(delivery["type"], expect["type"], "{what}");
    assert_eq!(delivery["payload"]["type"], expect["type"], "{what}");
    if expect["type"] == "site.changed" {
        let reason = data["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(expect["reason"].as_str().unwrap()),
            "{what}"
        );
        assert_eq!(purge["kind"], "everything", "{what}");
        return;
    }
    let related: Vec<&str> = data["related_urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect()
    };
    for url in strings(&expect["urls"]) {
        assert!(related.contains(&url.as_str()), "{what}: {url} missing");
    }
    for url in strings(&expect["absent_urls"]) {
        assert!(!related.contains(&url.as_str()), "{what}: {url} present");
    }
    assert_eq!(data["post"]["ID"], report["post_id"], "{what}");
    assert_eq!(data["post"]["permalink"], report["permalink"], "{what}");
    if !expect["old_permalink"].is_null() {
        assert_eq!(
            data["post"]["old_permalink"], expect["old_permalink"],
            "{what}"
        );
    }
    let mut wanted: Vec<&str> = related.clone();
    wanted.sort_unstable();
    wanted.dedup();
    let purged: Vec<&str> = purge["urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        (purge["kind"].as_str(), purged),
        (Some("urls"), wanted),
        "{what}"
    );
}

/// The app: a `standard` source and an `http` target posting each action
/// to the recorder.
async fn bench(site: Site) -> Bench {
    let recorder = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&recorder)
        .await;
    let config = format!(
        r#"
[sources.wordpress]
kind = "standard"
secrets = ["{WP_SECRET}"]
[targets.site]
provider = "http"
url = "{}/purge"
body = '{{{{ action | tojson }}}}'
window = "10ms"
[[rules]]
name = "post events: related URLs"
source = "wordpress"
event = "post.*"
[[rules.actions]]
target = "site"
urls = ["{{{{ payload.data.related_urls }}}}"]
[[rules]]
name = "site changed: everything"
source = "wordpress"
event = "site.changed"
[[rules.actions]]
target = "site"
everything = true
"#,
        recorder.uri()
    );
    let app = spawn_app(&config).await;
    let hook = format!("{}/hooks/wordpress", app.address);
    Bench {
        site,
        app,
        recorder,
        hook,
    }
}

fn id(report: &Value) -> String {
    report["post_id"].to_string()
}

#[tokio::test]
async fn the_wordpress_plugin_sends_one_verified_delivery_per_change() {
    if std::env::var_os("CI").is_none()
        && let Some(why) = unavailable()
    {
        println!(
            "skipped: the WordPress test needs a real WordPress, and {why}; run it as root with \
             `apt-get install wordpress php-cli php-mysql mariadb-server` done, or with CI=1 \
             (tests/wordpress/setup.sh installs them and starts MariaDB)"
        );
        return;
    }
    let lint = Command::new("php")
        .arg("-l")
        .arg(repo().join("integrations/wordpress/purgehook.php"))
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "php -l: {}",
        String::from_utf8_lossy(&lint.stdout)
    );
    let started = Instant::now();
    let wp = bench(Site::set_up()).await;
    let setup = started.elapsed();

    let a = wp.step("publish", &["Hello purgehook"]).await;
    wp.step("update", &[&id(&a)]).await;
    wp.step("rename", &[&id(&a), "hello-again"]).await;
    wp.step("autosave", &[&id(&a)]).await;
    let d = wp.step("schedule", &["Later"]).await;
    let published = wp.step("publish-future", &[&id(&d)]).await;
    assert_eq!(published["deliveries"][0]["type"], "post.published");
    wp.step("trash", &[&id(&a)]).await;
    wp.step("noop", &[]).await;
    wp.step("switch-theme", &[]).await;

    // A wrong secret: purgehook refuses it (401) and nothing is purged.
    let purged = wp.purges().await.len();
    let refused = wp
        .drive(
            "update",
            &[&id(&d)],
            "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==",
        )
        .await;
    assert_eq!(refused["deliveries"][0]["code"], 401, "{refused}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(wp.purges().await.len(), purged);
    println!(
        "WordPress test: setup {setup:?}, actions {:?}",
        started.elapsed() - setup
    );
}
