//! A TCP proxy a test can cut, freeze and restore: broker loss for one app,
//! without disturbing the broker every other test shares. Cut drops every
//! connection and refuses new ones (a broker that died); freeze forwards
//! nothing in either direction but closes nothing (a silent partition).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    frozen: watch::Sender<bool>,
    connections: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

/// Copies `from` to `to`, holding the bytes while frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// Forwards a free local port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (frozen, watching) = watch::channel(false);
        let connections = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (accept_up, accept_connections, accept_stop) =
            (up.clone(), connections.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = accept_stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((inbound, _)) = accepted else {
                    continue;
                };
                if !accept_up.load(Ordering::SeqCst) {
                    drop(inbound); // the broker is "down": close at once
                    continue;
                }
                let cut = accept_connections.lock().await.clone();
                let (upstream, frozen) = (upstream.clone(), watching.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        () = cut.cancelled() => {}
                        () = pump(in_read, out_write, frozen.clone()) => {}
                        () = pump(out_read, in_write, frozen) => {}
                    }
                });
            }
        });
        Proxy {
            port,
            up,
            frozen,
            connections,
            stop,
        }
    }

    /// Drops every connection and refuses new ones.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut connections = self.connections.lock().await;
        connections.cancel();
        *connections = CancellationToken::new();
    }

    /// Forwards nothing, closes nothing (new connections hang too).
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Forwards again what was held, and what comes.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
