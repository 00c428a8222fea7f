//! The real services some tests need (RabbitMQ, Redis, PostgreSQL), and what happens
//! when one does not answer: under `CI` those tests fail, saying which
//! service is missing; elsewhere they are skipped, and the run says so once,
//! in one line, with how to run them.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

/// The broker the tests use (`AMQP_URL`, else the machine's).
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The Redis the tests use (`REDIS_URL`, else the machine's).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// The PostgreSQL the tests use (`POSTGRES_URL`, else the machine's).
pub fn postgres_url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL is missing and the calling test should return at once.
pub fn postgres_missing() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    missing(
        &ANSWERS,
        "PostgreSQL",
        &postgres_url(),
        5432,
        "pg_ctlcluster 15 main start",
    )
}

/// Whether RabbitMQ is missing and the calling test should return at once.
pub fn rabbitmq_missing() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    missing(
        &ANSWERS,
        "RabbitMQ",
        &amqp_url(),
        5672,
        "rabbitmq-server -detached",
    )
}

/// Whether Redis is missing and the calling test should return at once.
pub fn redis_missing() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    missing(
        &ANSWERS,
        "Redis",
        &redis_url(),
        6379,
        "redis-server --daemonize yes",
    )
}

fn missing(
    answers: &OnceLock<bool>,
    service: &str,
    url: &str,
    default_port: u16,
    start: &str,
) -> bool {
    let address = address_of(url, default_port);
    // Where, without the credentials a URL may carry.
    let place = address.map_or_else(
        || "an address that does not resolve".to_string(),
        |a| a.to_string(),
    );
    let answers = *answers.get_or_init(|| {
        let reachable = address.as_ref().is_some_and(|address| {
            TcpStream::connect_timeout(address, Duration::from_secs(2)).is_ok()
        });
        if !reachable && std::env::var_os("CI").is_none() {
            // Straight to the terminal: libtest captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "\nskipped: every test that needs {service} — nothing answers at {place}. \
                 Start it (`{start}`) or run `bash .ci/run`; with CI set, these tests fail instead."
            );
        }
        reachable
    });
    assert!(
        answers || std::env::var_os("CI").is_none(),
        "{service} does not answer at {place}: CI is set, so the tests that need it fail \
         (start it: `{start}`)"
    );
    !answers
}

fn address_of(url: &str, default_port: u16) -> Option<SocketAddr> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?;
    (host, url.port().unwrap_or(default_port))
        .to_socket_addrs()
        .ok()?
        .next()
}
