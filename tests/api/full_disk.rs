//! Row 1 of the fault table, a full disk, on a real filesystem: the store
//! sits on a small tmpfs that the test fills. While the store cannot write,
//! deliveries get 503 + `Retry-After` and `/readyz` says 503; a batch whose
//! call was made but whose settlement fails is held, not called again; once
//! the filler is deleted the store takes writes again by itself, and every
//! accepted delivery is purged exactly once. Mounting needs root: without
//! it the test says why and passes, unless `CI` is set.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use purgehook::app::Role;
use purgehook::queue::Queue;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

/// A tmpfs of a few MB, unmounted when dropped (also when a test fails).
struct SmallDisk {
    mount: PathBuf,
    _dir: TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it). `None`,
    /// with a line saying why, when it cannot; under `CI` that is a failure.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .output();
        let why = match output {
            Ok(output) if output.status.success() => {
                return Some(SmallDisk { mount, _dir: dir });
            }
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                stderr.lines().next().unwrap_or("").trim().to_string()
            }
            Err(error) => error.to_string(),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set, so the full-disk test must run, but a tmpfs cannot be mounted: {why}"
        );
        println!("full-disk test skipped: cannot mount a tmpfs (needs root): {why}");
        None
    }

    /// Writes a filler file until the filesystem has no block left.
    fn fill(&self) -> PathBuf {
        let path = self.mount.join("filler");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("filler");
        for size in [1 << 16, 4096, 512] {
            let chunk = vec![0x42; size];
            while file.write_all(&chunk).is_ok() {}
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.mount).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            // Still busy (a failed test left the app running): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

/// A provider that records the post ids of each call, and answers only
/// while its gate is open.
#[derive(Clone)]
struct GatedProvider {
    address: String,
    calls: Arc<Mutex<Vec<Vec<u64>>>>,
    gate: Arc<watch::Sender<bool>>,
}

impl GatedProvider {
    async fn start() -> GatedProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = GatedProvider {
            address: format!("http://{}", listener.local_addr().unwrap()),
            calls: Arc::default(),
            gate: Arc::new(watch::Sender::new(true)),
        };
        let serving = provider.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        provider
    }

    /// Answers each request of a connection with 200 once the gate is open.
    async fn serve(self, stream: tokio::net::TcpStream) {
        let mut stream = BufReader::new(stream);
        loop {
            let mut length = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if stream.read_exact(&mut body).await.is_err() {
                return;
            }
            let action: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let ids = action["post_ids"].as_array().cloned().unwrap_or_default();
            let ids = ids.iter().filter_map(serde_json::Value::as_u64).collect();
            self.calls.lock().unwrap().push(ids);
            let _ = self.gate.subscribe().wait_for(|open| *open).await;
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
            if stream.get_mut().write_all(answer).await.is_err() {
                return;
            }
        }
    }

    /// How many calls purged each post id.
    fn purged(&self) -> BTreeMap<u64, usize> {
        let mut purged = BTreeMap::new();
        for id in self.calls.lock().unwrap().iter().flatten() {
            *purged.entry(*id).or_default() += 1;
        }
        purged
    }

    async fn until_purged(&self, id: u64) {
        eventually(WAIT, "the provider's call", || async {
            self.purged().contains_key(&id).then_some(())
        })
        .await;
    }
}

fn config(provider: &GatedProvider) -> String {
    format!(
        r#"{}
[targets.edge]
provider = "http"
url = "{}/purge"
body = '{{{{ action | tojson }}}}'
window = "50ms"

[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "edge"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"#,
        sources(),
        provider.address
    )
}

/// Sends a signed delivery purging post `id`; its status.
async fn deliver(app: &TestApp, id: u64) -> reqwest::Response {
    app.wordpress(&post_event("post.published", id, "post"))
        .await
}

async fn readyz(app: &TestApp) -> u16 {
    let url = format!("{}/readyz", app.address);
    app.client.get(url).send().await.unwrap().status().as_u16()
}

/// Write requests the store has served (refused ones included).
fn store_requests(queue: &Queue) -> u64 {
    let Queue::Embedded(store) = queue else {
        panic!("the embedded store")
    };
    store.stats().requests.load(Ordering::Relaxed)
}

/// Delivers posts from `first` on until the store refuses one; returns the
/// ids accepted meanwhile (a full disk still has room in pages the store
/// freed) and the refusal.
async fn deliver_until_refused(app: &TestApp, first: u64) -> (Vec<u64>, reqwest::Response) {
    let mut accepted = Vec::new();
    for id in first..first + 200 {
        let response = deliver(app, id).await;
        match response.status().as_u16() {
            202 => accepted.push(id),
            503 => return (accepted, response),
            status => panic!("unexpected {status} on a full disk"),
        }
    }
    panic!("the store took 200 deliveries on a full disk");
}

#[tokio::test]
async fn a_full_disk_refuses_deliveries_until_space_is_back_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let provider = GatedProvider::start().await;
    let queue_path = format!("\"{}\"", disk.mount.join("queue").display());
    let overrides = vec![("PURGEHOOK__QUEUE__PATH".to_string(), queue_path)];
    let app = spawn_role(
        &config(&provider),
        Role::Serve,
        overrides,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let mut accepted = vec![1, 2, 3];
    for id in &accepted {
        assert_eq!(deliver(&app, *id).await.status(), 202);
    }
    provider.until_purged(3).await;

    // A batch at the provider when the disk fills: its call is made, its
    // settlement will fail.
    provider.gate.send_replace(false);
    assert_eq!(deliver(&app, 10).await.status(), 202);
    accepted.push(10);
    provider.until_purged(10).await;
    let filler = disk.fill();
    let (taken, refused) = deliver_until_refused(&app, 100).await;
    accepted.extend(taken);
    assert!(refused.headers().contains_key("retry-after"), "{refused:?}");
    assert_eq!(readyz(&app).await, 503);
    let again = deliver(&app, 999).await;
    assert_eq!(again.status(), 503);
    assert!(again.headers().contains_key("retry-after"));

    // The call ends; its settlement is refused and tried again, the batch
    // held: three tries, one call.
    let before = store_requests(&app.queue);
    provider.gate.send_replace(true);
    eventually(WAIT, "the settlement tried three times", || async {
        (store_requests(&app.queue) >= before + 3).then_some(())
    })
    .await;
    assert_eq!(
        provider.purged()[&10],
        1,
        "the held batch is not called again"
    );
    assert_eq!(readyz(&app).await, 503, "still full");

    std::fs::remove_file(filler).unwrap();
    let freed = Instant::now();
    eventually(WAIT, "/readyz 200 once space is back", || async {
        (readyz(&app).await == 200).then_some(())
    })
    .await;
    println!(
        "full disk: /readyz 200 {:?} after space was freed",
        freed.elapsed()
    );
    for id in [200, 201, 202] {
        assert_eq!(deliver(&app, id).await.status(), 202);
        accepted.push(id);
    }
    eventually(WAIT, "every accepted delivery purged", || async {
        let done = app.queue.pending_jobs("edge") == Some(0);
        (done && accepted.iter().all(|id| provider.purged().contains_key(id))).then_some(())
    })
    .await;
    let expected: BTreeMap<u64, usize> = accepted.iter().map(|id| (*id, 1)).collect();
    assert_eq!(
        provider.purged(),
        expected,
        "each accepted post purged once, nothing else"
    );
    app.stop().await;
    drop(disk);
}
