//! Production RabbitMQ is a cluster. A three-node cluster of the test's own
//! (its own node names, ports and data, beside the shared broker) takes a
//! receiver and a worker given every node's URL; the node the receiver is
//! connected to is stopped in the middle of a stream of signed deliveries:
//! at least 95 % are accepted, and every accepted one is purged.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use purgehook::app::Role;

use crate::amqp::{Deployment, purged_ids};
use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

const SCRIPT: &str = "tests/support/rabbitmq-cluster.sh";
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A private three-node cluster, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    urls: Vec<String>,
}

impl Cluster {
    /// Starts one, or says why it cannot (`None`: skipped outside CI).
    fn start() -> Option<Cluster> {
        if !std::path::Path::new(SERVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "RabbitMQ ({SERVER}) is needed for the cluster test"
            );
            eprintln!("skipped: no {SERVER}; install rabbitmq-server to run the cluster test");
            return None;
        }
        // Booting three nodes on a busy machine sometimes fails (a node
        // slow to come up, a join refused): that is not what is tested, so
        // a failed boot is tried again, twice, in a new directory (the
        // script kills what it started).
        let mut failed_boots = Vec::new();
        for base in (36000..36900).step_by(25) {
            let dir = tempfile::tempdir().unwrap();
            let output = Command::new("bash")
                .args([SCRIPT, "start"])
                .arg(dir.path())
                .arg(base.to_string())
                .output()
                .unwrap();
            if output.status.success() {
                let urls = String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .filter(|line| line.starts_with("amqp://"))
                    .map(str::to_string)
                    .collect::<Vec<_>>();
                assert_eq!(urls.len(), 3, "three nodes");
                return Some(Cluster { dir, urls });
            }
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if !(stderr.contains("in use") || stderr.contains("busy")) {
                eprintln!("the cluster did not start (trying again): {stderr}");
                failed_boots.push(stderr);
                assert!(
                    failed_boots.len() < 3,
                    "the cluster did not start, three times: {failed_boots:#?}"
                );
            }
        }
        panic!("no free port block for a cluster");
    }

    /// The queues and consumers as node `node` sees them, for a failure.
    fn describe(&self, node: u8) -> String {
        let ctl = |args: &[&str]| {
            Command::new("bash")
                .args([SCRIPT, "ctl"])
                .arg(self.dir())
                .arg(node.to_string())
                .args(args)
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_else(|e| e.to_string())
        };
        [
            ctl(&[
                "list_queues",
                "name",
                "type",
                "leader",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
                "single_active_consumer_tag",
            ]),
            ctl(&[
                "list_consumers",
                "queue_name",
                "consumer_tag",
                "active",
                "activity_status",
                "channel_pid",
            ]),
        ]
        .join("\n")
    }

    fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([SCRIPT, "stop"])
            .arg(self.dir())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_receivers_node_keeps_deliveries_flowing_and_nothing_is_lost() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "50ms");
    let nodes = format!(
        "[{}]",
        cluster
            .urls
            .iter()
            .map(|url| format!("\"{url}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let receiver = deployment.spawn_via(Role::Receiver, &nodes).await;
    let worker = deployment.spawn_via(Role::Worker, &nodes).await;

    let total = 300u64;
    let mut accepted = BTreeSet::new();
    let mut stopping = None;
    for id in 1..=total {
        if id == 100 {
            // The receiver connects to the first node of the list.
            let cluster_dir = cluster.dir();
            stopping = Some(std::thread::spawn(move || {
                let status = Command::new("bash")
                    .args([SCRIPT, "stop-node"])
                    .arg(cluster_dir)
                    .arg("1")
                    .status();
                status.map(|s| s.success()).unwrap_or(false)
            }));
        }
        let answer = receiver
            .wordpress(&post_event("post.published", id, "post"))
            .await;
        if answer.status() == 202 {
            accepted.insert(id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = stopping.map(|t| t.join().unwrap()).unwrap_or(false);
    assert!(stopped, "node 1 was stopped during the stream");
    let share = accepted.len() as f64 / total as f64;
    eprintln!(
        "cluster: {} of {total} deliveries accepted ({:.1} %)",
        accepted.len(),
        share * 100.0
    );
    assert!(share >= 0.95, "{} of {total} accepted", accepted.len());

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let purged: BTreeSet<u64> = purged_ids(&site.requests().await).into_iter().collect();
        let missing: Vec<u64> = accepted.difference(&purged).copied().collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let spooled = match &receiver.queue {
                purgehook::queue::Queue::Amqp(queue) => queue.spooled(),
                purgehook::queue::Queue::Embedded(_) => 0,
            };
            panic!(
                "{} accepted deliveries never purged (first: {:?}); {spooled} still in the receiver's spool; the broker says:\n{}",
                missing.len(),
                &missing[..missing.len().min(10)],
                cluster.describe(2)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.stop().await;
    worker.stop().await;
}
