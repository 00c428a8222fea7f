#!/usr/bin/env python3
"""Issue 11's attacks on a real purgehook binary, with figures.

Starts `BINARY serve` on a free port with a config of its own (a GitHub
source, the `log` target, a rule for pushes, an API token) and a
file-descriptor limit of 20,000, runs one attack, prints what it measured
and stops the process. The attacker connects from 127.0.0.1, the
legitimate sender from 127.0.0.2. Python's standard library only.

    python3 benches/attacks/attacks.py BINARY slow-bodies [--connections 21000] [--seconds 30] [--partial-head]
    python3 benches/attacks/attacks.py BINARY unknown-names [--requests 3000]
    python3 benches/attacks/attacks.py BINARY log-injection
    python3 benches/attacks/attacks.py BINARY token-guessing [--seconds 10]

Every loop is bounded in count and time, and only loopback is contacted.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import random
import resource
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "attack-test-secret"
TOKEN = "attack-test-token-0123456789"
NOFILE = 20000
BODY = json.dumps({"ref": "refs/heads/main", "commits": [
    {"added": ["content/a.md"], "modified": [], "removed": []}]}).encode()

CONFIG = f"""
[server]
listen = "127.0.0.1:0"
api_tokens = ["{TOKEN}"]

[queue]
path = "QUEUE"

[log]
format = "pretty"

[sources.github]
kind = "github"
secrets = ["{SECRET}"]

[targets.site]
provider = "log"
window = "50ms"

[[rules]]
name = "push"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
everything = true
"""


class Server:
    """The binary under test, its port, pid and log."""

    def __init__(self, binary, extra=""):
        self.dir = tempfile.mkdtemp(prefix="purgehook-attack-")
        config = os.path.join(self.dir, "config.toml")
        with open(config, "w") as f:
            f.write(CONFIG.replace("QUEUE", os.path.join(self.dir, "queue")) + extra)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, RUST_LOG="info")

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

        self.process = subprocess.Popen(
            [binary, "--config", config, "serve"], stdout=subprocess.DEVNULL,
            stderr=self.log, env=env, preexec_fn=limit)
        self.port = self._port()

    def _port(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                for line in f:
                    if b"purgehook is serving" in line:
                        return int(line.split(b"port=")[1].split()[0])
            time.sleep(0.05)
        raise SystemExit("the server did not start: " + open(self.log_path).read())

    def rss_kib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def log_bytes(self):
        self.log.flush()
        return os.path.getsize(self.log_path)

    def log_lines(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()

    def request(self, method, path, body=b"", headers=None, source="127.0.0.2", timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def signed_push(self, timeout=10):
        mac = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                   "X-Hub-Signature-256": "sha256=" + mac}
        return self.request("POST", "/hooks/github", BODY, headers, timeout=timeout)

    def metrics(self):
        return self.request("GET", "/metrics")[1]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def legit_sender(server, stop, latencies, failures):
    """Signed deliveries from 127.0.0.2, one connection each, every 100 ms;
    each noted with the time it was sent."""
    while not stop.is_set():
        start = time.monotonic()
        try:
            status, _, _ = server.signed_push(timeout=10)
            elapsed = time.monotonic() - start
            if status == 202:
                latencies.append((start, elapsed))
            else:
                failures.append((start, f"status {status}"))
        except Exception as error:  # noqa: BLE001 - every failure is a figure
            failures.append((start, type(error).__name__))
        stop.wait(0.1)


HEAD = (f"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256={'0' * 64}\r\n"
        f"Content-Length: {1024 * 1024}\r\n\r\n").encode()


PARTIAL_HEAD = b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Slow: "


def attacker(port, count, seconds, results, opened_all, head):
    """One attacking process: `count` connections from 127.0.0.1, each
    sending `head`, then one byte per 2 s (of a 1 MB body, or of a header
    that never ends), for `seconds`."""
    started = time.monotonic()
    sockets, failed, closed = [], 0, 0
    for _ in range(count):
        if time.monotonic() - started > seconds:
            break
        s = socket.socket()
        try:
            s.settimeout(1)
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(head)
            s.setblocking(False)
            sockets.append(s)
        except OSError:
            failed += 1
            s.close()
    opened = len(sockets) + closed
    opened_all.release()
    while time.monotonic() - started < seconds:
        alive = []
        for s in sockets:
            try:
                s.send(b" ")
                alive.append(s)
            except OSError:
                closed += 1
                s.close()
        sockets = alive
        time.sleep(2)
    results.put((opened, failed, closed))
    for s in sockets:
        s.close()


def sample_fds(server, stop, samples):
    while not stop.is_set():
        samples.append((time.monotonic(), server.open_fds()))
        stop.wait(0.5)


def slow_bodies(binary, args):
    server = Server(binary)
    baseline = [server.signed_push()[0] for _ in range(3)]
    print(f"baseline deliveries: {baseline}")
    stop = threading.Event()
    latencies, failures = [], []
    sender = threading.Thread(target=legit_sender, args=(server, stop, latencies, failures))
    sender.start()
    # One process holds at most ~19,000 descriptors: split the connections.
    results, opened_all = multiprocessing.Queue(), multiprocessing.Semaphore(0)
    per_process = 10_000
    attackers = [multiprocessing.Process(
        target=attacker,
        args=(server.port, min(per_process, args.connections - n), args.seconds, results, opened_all,
              PARTIAL_HEAD if args.partial_head else HEAD))
        for n in range(0, args.connections, per_process)]
    started = time.monotonic()
    fds = []  # (time, open descriptors), sampled twice a second
    sampling = threading.Thread(target=sample_fds, args=(server, stop, fds))
    sampling.start()
    for process in attackers:
        process.start()
    for _ in attackers:
        opened_all.acquire()
    all_open = time.monotonic()
    for process in attackers:
        process.join()
    stop.set()
    sender.join()
    sampling.join()
    ended = time.monotonic()
    opened = failed = closed = 0
    for _ in attackers:
        o, f, c = results.get()
        opened, failed, closed = opened + o, failed + f, closed + c
    errors = sum("Too many open files" in line for line in server.log_lines())
    peak_fds = max(n for _, n in fds)
    saturated = next((t for t, n in fds if n >= NOFILE * 0.95), None)
    print(f"attacker: {opened} connections opened from 127.0.0.1 in {all_open - started:.0f}s"
          f" ({failed} could not connect); the server closed {closed} of them by {ended - started:.0f}s")
    print(f"server: open fds peak {peak_fds} of {NOFILE}; 'Too many open files' log lines {errors};"
          f" RSS {server.rss_kib() / 1024:.0f} MB")
    phases = [("during the whole attack", started), ("once the attacker's connections were open", all_open)]
    if saturated is not None:
        phases.append(("once the server's descriptors were exhausted", saturated))
    for phase, since in phases:
        answered = [t for start, t in latencies if start >= since]
        failed = [f for start, f in failures if start >= since]
        line = (f"legit deliveries from 127.0.0.2 {phase} ({ended - since:.0f}s):"
                f" {len(answered)} answered 202, {len(failed)} failed")
        if answered:
            line += (f"; latency p50 {percentile(answered, 50) * 1000:.0f} ms,"
                     f" p99 {percentile(answered, 99) * 1000:.0f} ms, max {max(answered) * 1000:.0f} ms")
        if failed:
            line += f"; failures {sorted(set(failed))}"
        print(line)
    server.stop()


def unknown_names(binary, args):
    server = Server(binary)
    rss_before, log_before = server.rss_kib(), server.log_bytes()
    metrics_before = len(server.metrics())
    started = time.monotonic()
    statuses = {}
    for _ in range(args.requests):
        name = "".join(random.choices(string.ascii_letters, k=30 * 1024))
        try:
            status = server.request("POST", "/hooks/" + name, b"{}", source="127.0.0.1")[0]
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.monotonic() - started
    status, body, _ = server.request("POST", "/hooks/" + "n" * 60 * 1024, b"{}")
    metrics = server.metrics()
    print(f"{args.requests} POSTs to /hooks/<random 30 KB name> in {elapsed:.1f}s: {statuses}")
    print(f"RSS {rss_before / 1024:.0f} MB -> {server.rss_kib() / 1024:.0f} MB;"
          f" /metrics {metrics_before} B -> {len(metrics)} B;"
          f" log +{(server.log_bytes() - log_before) / 1024:.0f} KB")
    print(f"a 60 KB name: {status}, answer {len(body)} bytes")
    print("webhook metric lines: " + str(sum(line.startswith(b"purgehook_webhooks_total")
                                              for line in metrics.splitlines())))
    server.stop()


def log_injection(binary, _args):
    server = Server(binary)
    before = len(server.log_lines())
    path = "/hooks/%0a2026-11-23T20:31:00.000000Z%20ERROR%20purgehook:%20forged%20line%1b[31m"
    status, body, _ = server.request("POST", path, b"{}")
    time.sleep(0.5)
    lines = server.log_lines()[before:]
    forged = [line for line in lines if line.startswith("2026-11-23T20:31:00")]
    raw_escapes = sum("\x1b" in line for line in lines)
    print(f"answer {status}: {body.decode(errors='replace')}")
    print(f"new log lines: {len(lines)}; lines that start forged: {len(forged)};"
          f" lines with a raw ESC: {raw_escapes}")
    for line in lines:
        print("  " + repr(line))
    server.stop()


def token_guessing(binary, args):
    server = Server(binary, extra="")
    log_before = len(server.log_lines())
    statuses = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < args.seconds:
        guess = "".join(random.choices(string.ascii_letters, k=28))
        try:
            conn.request("GET", "/api/v1/dead-letters", headers={"Authorization": "Bearer " + guess})
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        sent += 1
    conn.close()
    lines = server.log_lines()[log_before:]
    metric = [line for line in server.metrics().decode().splitlines()
              if line.startswith("purgehook_api_auth_failures_total")]
    print(f"{sent} wrong tokens from 127.0.0.1 in {args.seconds}s: answers {statuses}")
    print(f"log lines: {len(lines)}; metric: {metric or 'none'}")
    leaked = sum(TOKEN in line for line in server.log_lines())
    print(f"lines containing the real token: {leaked}")
    other = server.request("GET", "/api/v1/dead-letters",
                           headers={"Authorization": "Bearer " + TOKEN})[0]
    print(f"right token from 127.0.0.2 meanwhile: {other}")
    locked = server.request("GET", "/api/v1/dead-letters", source="127.0.0.1",
                            headers={"Authorization": "Bearer " + TOKEN})
    print(f"right token from 127.0.0.1 meanwhile: {locked[0]} Retry-After { {k.lower(): v for k, v in locked[2].items()}.get('retry-after')}")
    server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("attack", choices=["slow-bodies", "unknown-names", "log-injection",
                                           "token-guessing"])
    parser.add_argument("--connections", type=int, default=21000)
    parser.add_argument("--seconds", type=float, help="30 (slow-bodies) or 10 (token-guessing)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--partial-head", action="store_true",
                        help="slow-bodies: trickle a header that never ends instead of a body")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 30 if args.attack == "slow-bodies" else 10
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    {"slow-bodies": slow_bodies, "unknown-names": unknown_names,
     "log-injection": log_injection, "token-guessing": token_guessing}[args.attack](
        os.path.abspath(args.binary), args)


if __name__ == "__main__":
    sys.exit(main())
