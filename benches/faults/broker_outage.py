#!/usr/bin/env python3
"""Rows 6, 8 and 9 of the fault table, measured: RabbitMQ lost under a stream.

A receiver and a worker (the binary given, `log` provider, JSON logs) reach
RabbitMQ through a TCP proxy of this script, which can cut the connections
(reset, and refuse new ones) or freeze them (stop forwarding, close nothing).
Senders post signed Standard Webhooks deliveries (one post id each) at a
steady rate; pollers record each process's /readyz. Then, by scenario:

  cut      (row 8) at --at the proxy is cut for --outage seconds, and the
           worker is killed with SIGKILL in the middle of it and started
           again; the stream goes on for --seconds in all.
  freeze   (row 6) at --at the proxy freezes for --outage seconds: the
           broker silent, its sockets open.
  start    (row 9) the proxy is cut when the processes start, and restored
           after --outage seconds.

It reports the answers (202 share, 503s, slowest answers), when each /readyz
went 503 and came back, and, from the workers' log lines, that every
accepted post id was purged (nothing lost) and how many more than once (a
purge repeated after a kill is allowed: at-least-once).

Usage, from the repository root (RabbitMQ at 127.0.0.1:5672, guest/guest):

    cargo build --release
    python3 benches/faults/broker_outage.py cut [--rate 20] [--seconds 15]
    python3 benches/faults/broker_outage.py freeze
    python3 benches/faults/broker_outage.py start
"""

import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from common import ROUTED_TO_EDGE, SECRET, Run, percentile, poll_ready, read_log, send

CONFIG = """
[server]
listen = "127.0.0.1:0"
[queue]
backend = "amqp"
url = "amqp://guest:guest@127.0.0.1:{proxy}/%2f"
prefix = "{prefix}"
path = "{spool}"
[worker]
listen = "127.0.0.1:0"
window = "100ms"
backoff = "100ms"
""" + ROUTED_TO_EDGE

WATCHED = ("RabbitMQ is not reachable", "connected to RabbitMQ", "a publisher confirm",
           "consumer failed", "consumer ended", "forwarded")


class Proxy:
    """A TCP proxy to the broker that can be cut or frozen."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.cut = False
        self.frozen = threading.Event()
        self.frozen.set()  # set: forwarding
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            with self.lock:
                if self.cut:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    client.close()
                    continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self.pump, args=(client, server), daemon=True).start()

    def pump(self, client, server):
        sockets = [client, server]
        try:
            while True:
                self.frozen.wait()
                readable, _, _ = select.select(sockets, [], [], 0.1)
                if not self.frozen.is_set():
                    continue
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (server if source is client else client).sendall(data)
        except OSError:
            pass
        finally:
            for sock in sockets:
                sock.close()

    def set_cut(self, cut):
        with self.lock:
            self.cut = cut
            pairs, self.pairs = (self.pairs, []) if cut else ([], self.pairs)
        for pair in pairs:
            for sock in pair:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    sock.close()
                except OSError:
                    pass

    def freeze(self, frozen):
        if frozen:
            self.frozen.clear()
        else:
            self.frozen.set()


class Deployment:
    """A receiver and a worker of one configuration."""

    def __init__(self, binary, config, run):
        self.binary, self.config, self.run = binary, config, run
        self.serving = {}
        self.processes = {}

    def start(self, role):
        env = dict(os.environ, PURGEHOOK_CONFIG=self.config, RUST_LOG="info")
        process = subprocess.Popen([self.binary, role], env=env, stderr=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, text=True)
        self.serving.pop(role, None)
        threading.Thread(target=read_log, args=(process.stderr, self.run, role, self.serving, WATCHED),
                         daemon=True).start()
        self.processes[role] = process
        deadline = time.monotonic() + 20
        while role not in self.serving:
            if time.monotonic() > deadline:
                sys.exit(f"{role} did not start serving")
            time.sleep(0.02)
        return self.serving[role]

    def kill(self, role):
        self.processes[role].kill()
        self.processes[role].wait()

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()


def delete_queues(prefix):
    """Removes the run's queues from the broker (exchanges are left: cheap)."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True,
                            text=True, check=False)
    for name in listed.stdout.split():
        if name.startswith(prefix + "."):
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", name], capture_output=True, check=False)


def report(run, marks):
    answers = run.answers
    statuses = {}
    for answer in answers:
        statuses[answer[2]] = statuses.get(answer[2], 0) + 1
    accepted = run.accepted()
    share = 100.0 * len(accepted) / max(1, len(answers))
    taken = [a[4] for a in answers]
    print(f"deliveries: {len(answers)}: " + ", ".join(f"{n} x {s or 'no answer'}" for s, n in sorted(statuses.items()))
          + f" — {share:.1f} % accepted")
    print(f"answer time: p50 {1000 * percentile(taken, 0.5):.0f} ms, p99 {1000 * percentile(taken, 0.99):.0f} ms, "
          f"max {1000 * max(taken, default=0):.0f} ms")
    for name, at in marks:
        print(f"  t={at:.3f}s {name}")
    for process, changes in sorted(run.ready.items()):
        print(f"  {process} /readyz: " + ", ".join(f"{status or 'down'} from {t:.2f}s" for t, status in changes))
    for t, process, message in run.events:
        print(f"  t={t:.3f}s {process}: {message[:110]}")
    lost = sorted(accepted - set(run.purged))
    twice = sorted(i for i, n in run.purged.items() if n > 1)
    print(f"accepted and never purged: {len(lost)} {lost[:10]}")
    print(f"purged more than once (at-least-once, after a kill): {len(twice)}")
    return not lost, share


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["cut", "freeze", "start"])
    parser.add_argument("--binary", default="target/release/purgehook")
    parser.add_argument("--rate", type=float, default=20.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the stream")
    parser.add_argument("--at", type=float, default=4.0, help="when the fault starts")
    parser.add_argument("--outage", type=float, default=6.0, help="how long it lasts")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="purgehook-broker-outage-")
    prefix = "outage-" + uuid.uuid4().hex[:12]
    proxy = Proxy(("127.0.0.1", 5672))
    config = os.path.join(work, "purgehook.toml")
    with open(config, "w") as out:
        out.write(CONFIG.format(proxy=proxy.port, prefix=prefix, spool=os.path.join(work, "spool"),
                                secret=SECRET))
    run = Run()
    deployment = Deployment(binary, config, run)
    marks = []
    try:
        if args.scenario == "start":
            proxy.set_cut(True)
            marks.append(("broker cut before the start", run.now()))
        receiver = deployment.start("receiver")
        worker = deployment.start("worker")
        threads = [threading.Thread(target=send, args=(run, receiver, args.rate)),
                   threading.Thread(target=poll_ready, args=(run, "receiver", receiver)),
                   threading.Thread(target=poll_ready, args=(run, "worker", worker))]
        for thread in threads:
            thread.start()
        if args.scenario == "start":
            time.sleep(args.outage)
            proxy.set_cut(False)
            marks.append(("broker restored", run.now()))
            time.sleep(max(0.0, args.seconds - args.outage))
        else:
            time.sleep(args.at)
            if args.scenario == "cut":
                proxy.set_cut(True)
                marks.append(("broker cut", run.now()))
                time.sleep(args.outage / 2)
                deployment.kill("worker")
                marks.append(("worker killed (SIGKILL)", run.now()))
                time.sleep(0.5)
                worker = deployment.start("worker")
                marks.append(("worker started again", run.now()))
                threading.Thread(target=poll_ready, args=(run, "worker'", worker), daemon=True).start()
                time.sleep(max(0.0, args.outage / 2 - 0.5))
                proxy.set_cut(False)
                marks.append(("broker restored", run.now()))
            else:
                proxy.freeze(True)
                marks.append(("broker frozen", run.now()))
                time.sleep(args.outage)
                proxy.freeze(False)
                marks.append(("broker thawed", run.now()))
            time.sleep(max(0.0, args.seconds - args.at - args.outage))
        run.stop.set()
        for thread in threads:
            thread.join()
        run.wait_purged(60)
        complete, share = report(run, marks)
        verdict = complete and share >= 95.0
        print(f"{'PASS' if verdict else 'FAIL'}: {share:.1f} % accepted (goal ≥ 95 %), "
              f"{'nothing' if complete else 'something'} accepted was lost")
        return 0 if verdict else 1
    finally:
        run.stop.set()
        deployment.stop()
        delete_queues(prefix)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
