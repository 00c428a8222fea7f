//! The receiver's limits under attack: a body that trickles in gets 408 and
//! its connection closed; one address holding many requests open gets 429
//! at once while a sender on another address is served; guessing API tokens
//! locks out that address only, for a while; a forged log line stays on
//! its own line; and the limits' keys are checked when the file loads.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;

const TOKEN: &str = "hostile-test-token-0123456789";
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const SENDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

const RULES: &str = r#"
[targets.site]
provider = "log"

[[rules]]
name = "pushes"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
everything = true
"#;

async fn app_with(server: &str) -> TestApp {
    let config = format!(
        "[server]\napi_tokens = [\"{TOKEN}\"]\n{server}\n{}{RULES}",
        sources()
    );
    spawn_app(&config).await
}

/// A client whose connections come from `address`.
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A connection from `from` that sent a hook's head and `sent` bytes of a
/// body announced as 1 MB, and sends no more.
async fn slow_request(app: &TestApp, from: Ipv4Addr, sent: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                X-GitHub-Event: push\r\nContent-Length: 1048576\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

/// Whether the server has neither answered nor closed `stream` yet.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// What the server sends on `stream` until it closes it.
async fn answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap_or_default();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408_and_its_connection_closed() {
    let app = app_with("body_timeout = \"300ms\"").await;
    let mut stream = slow_request(&app, ATTACKER, 10).await;
    let answer = answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn one_address_holding_requests_open_gets_429_while_others_are_served() {
    let app = app_with("max_requests_per_client = 4").await;
    // Once four are in progress, a fifth from that address is refused at
    // once, its body unread. The HTTP worker threads take requests in
    // their own order, so a held one may be the one refused: each round
    // first replaces the held requests the server closed.
    let held = Arc::new(tokio::sync::Mutex::new(Vec::<TcpStream>::new()));
    let attacker = client_from(ATTACKER);
    let refused = eventually(
        Duration::from_secs(10),
        "the fifth request refused",
        || async {
            let mut held = held.lock().await;
            held.retain(still_open);
            while held.len() < 4 {
                held.push(slow_request(&app, ATTACKER, 1).await);
            }
            let response = attacker
                .post(format!("{}/hooks/github", app.address))
                .body("{}")
                .send()
                .await
                .ok()?;
            (response.status() == 429).then_some(response)
        },
    )
    .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");

    let sender = client_from(SENDER);
    let response = sender
        .post(format!("{}/hooks/github", app.address))
        .headers(header_map(&github_headers("push", PUSH_NEW_BRANCH)))
        .body(PUSH_NEW_BRANCH)
        .send()
        .await
        .unwrap();
    // How fast, during such an attack, is measured by benches/attacks.
    assert_eq!(response.status(), 202, "another address is served");
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn one_address_holding_connections_open_is_shut_out_while_others_are_served() {
    // The held connections outlive the probes (a head may take a minute).
    let app = app_with("max_connections_per_client = 3\nheader_timeout = \"60s\"").await;
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let connect = || async move {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind((ATTACKER, 0).into()).unwrap();
        socket.connect(address).await
    };
    // Three connections held open with a head that never ends. The two
    // HTTP worker threads count connections in the order they take them, so
    // a probe may be counted before a held one, which is then the one shut:
    // each round first replaces the held connections the server closed.
    let held = Arc::new(tokio::sync::Mutex::new(Vec::<TcpStream>::new()));
    eventually(
        Duration::from_secs(10),
        "a fourth connection shut while three are held",
        || {
            let held = held.clone();
            async move {
                let mut held = held.lock().await;
                held.retain(still_open);
                while held.len() < 3 {
                    let mut stream = connect().await.ok()?;
                    stream
                        .write_all(b"POST /hooks/github HTTP/1.1\r\nX-Slow: ")
                        .await
                        .ok()?;
                    held.push(stream);
                }
                let mut probe = connect().await.ok()?;
                let _ = probe
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await;
                answer(&mut probe).await.is_empty().then_some(())
            }
        },
    )
    .await;
    let response = client_from(SENDER)
        .post(format!("{}/hooks/github", app.address))
        .headers(header_map(&github_headers("push", PUSH_NEW_BRANCH)))
        .body(PUSH_NEW_BRANCH)
        .send()
        .await
        .unwrap();
    // How fast, during such an attack, is measured by benches/attacks.
    assert_eq!(response.status(), 202, "another address is served");
    drop(held);
    app.stop().await;
}

fn header_map(headers: &[(String, String)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect()
}

async fn api_status(client: &reqwest::Client, app: &TestApp, token: &str) -> reqwest::Response {
    client
        .get(format!("{}/api/v1/dead-letters", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn guessing_tokens_locks_out_that_address_only_and_for_a_while() {
    let app = app_with("api_auth_failures = 3\napi_lockout = \"1s\"").await;
    let attacker = client_from(ATTACKER);
    for guess in 0..3 {
        let response = api_status(&attacker, &app, &format!("guess-{guess}-0123456789")).await;
        assert_eq!(response.status(), 401, "guess {guess}");
    }
    let locked = api_status(&attacker, &app, "guess-4-0123456789").await;
    assert_eq!(locked.status(), 429);
    assert_eq!(locked.headers()["retry-after"], "1");
    let right = api_status(&attacker, &app, TOKEN).await;
    assert_eq!(
        right.status(),
        429,
        "even the right token waits out the lockout"
    );

    let other = api_status(&client_from(SENDER), &app, TOKEN).await;
    assert_eq!(other.status(), 200, "another address is not locked out");

    eventually(Duration::from_secs(10), "the lockout to end", || async {
        (api_status(&attacker, &app, TOKEN).await.status() == 200).then_some(())
    })
    .await;
    let metrics = attacker
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("purgehook_api_auth_failures_total "))
        .and_then(|count| count.parse().ok())
        .expect("the failures are counted");
    assert!(failures >= 3.0, "{metrics}");
    assert!(!metrics.contains("guess-"), "no guess is a label");
    app.stop().await;
}

#[test]
fn a_forged_log_line_stays_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    let queue = dir.path().join("queue");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[queue]\npath = {queue:?}\n{}{RULES}",
        sources()
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("stderr.log");
    let (mut child, port) = spawn_logging(&config, &log);
    let forged = "/hooks/%0a2026-11-23T20:31:00Z%20ERROR%20purgehook:%20forged%1b[31m";
    let request = format!("POST {forged} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut status = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 404");

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("webhook refused") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let refused: Vec<&str> = lines
        .lines()
        .filter(|line| line.contains("webhook refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{lines}");
    assert!(refused[0].contains("\\n2026-11-23T20:31:00Z ERROR purgehook: forged\\u001b[31m"));
    assert!(
        !lines.lines().any(|line| line.starts_with("2026-11-23")),
        "{lines}"
    );
    assert!(!lines.contains('\u{1b}'), "no raw escape reaches the log");
}

/// Starts `serve` with its log in `log` and waits until it says its port.
/// The caller kills and waits for the child.
#[allow(clippy::zombie_processes)]
fn spawn_logging(config: &Path, log: &Path) -> (std::process::Child, u16) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find(|line| line.contains("purgehook is serving"))
            .and_then(|line| line.split("port=").nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|port| port.parse().ok())
        {
            return (child, port);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not start: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_limits_are_checked_when_the_file_loads() {
    let toml = "[server]\nmax_connections = 0\nbody_timeout = \"0s\"\napi_lockout = \"0s\"\n\
                header_timeout = \"soon\"\nmax_requests_per_client = -1\n";
    let loaded = purgehook::config::from_toml(toml, Path::new("bad.toml"), vec![]).unwrap();
    let Err(error) = loaded.into_settings() else {
        panic!("invalid limits are refused");
    };
    let report = error.to_string();
    for key in [
        "server.max_connections",
        "server.body_timeout",
        "server.api_lockout",
        "server.header_timeout",
        "server.max_requests_per_client",
    ] {
        assert!(report.contains(key), "{key} in {report}");
    }
    let fine =
        "[server]\nbody_timeout = \"2s\"\nmax_requests_per_client = 0\napi_auth_failures = 0\n";
    let loaded = purgehook::config::from_toml(fine, Path::new("ok.toml"), vec![]).unwrap();
    let settings = loaded.into_settings().unwrap();
    assert_eq!(settings.server.body_timeout, Duration::from_secs(2));
    assert_eq!(settings.server.max_requests_per_client, 0);
}
