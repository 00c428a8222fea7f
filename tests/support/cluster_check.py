#!/usr/bin/env python3
"""Check a private cluster from rabbitmq-cluster.sh does what the fault tests need.

    python3 tests/support/cluster_check.py DIR [--messages 1000] [--mode kill|stop]

Needs `pip install pika`. Against the cluster in DIR (already started):

1. declares a quorum queue through node 1 and publishes N persistent messages
   with publisher confirms;
2. finds the queue's leader, and stops (`--mode stop`) or SIGKILLs (`--mode kill`)
   that node while a client is connected to it, and reports what the client saw
   (a connection.close 320 CONNECTION_FORCED, or a lost stream);
3. measures how long until a client on a surviving node can consume from the
   queue again (a new leader elected), then consumes all N messages and checks
   every one came back;
4. restarts the node and measures how long it takes to rejoin.

It runs against its own vhost-less queue name and deletes the queue at the end.
Prints one `key: value` line per figure, for the README.
"""
import argparse
import os
import subprocess
import sys
import threading
import time
import uuid

import pika

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "rabbitmq-cluster.sh")


def sh(*args, check=True):
    r = subprocess.run([SCRIPT, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def params(url, heartbeat=10):
    p = pika.URLParameters(url)
    p.heartbeat = heartbeat
    p.blocked_connection_timeout = 30
    p.socket_timeout = 5
    p.connection_attempts = 1
    return p


def queue_leader(dir_, node, queue):
    out = sh("ctl", dir_, str(node), "list_queues", "name", "leader", "members",
             "--quiet", "--formatter", "json")
    import json
    for q in json.loads(out):
        if q["name"] == queue:
            return q["leader"], q["members"]
    return None, None


def node_index(name):
    # ph2_36100@localhost -> 2
    return int(name.split("_", 1)[0][2:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--mode", choices=["kill", "stop"], default="kill")
    a = ap.parse_args()
    urls = sh("urls", a.dir).split()
    queue = f"cluster-check-{uuid.uuid4().hex[:8]}"

    # 1. declare + publish with confirms through node 1
    conn = pika.BlockingConnection(params(urls[0]))
    ch = conn.channel()
    ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    t0 = time.monotonic()
    for i in range(a.messages):
        # BlockingChannel.basic_publish waits for this message's confirm and
        # raises on a nack or a return
        ch.basic_publish("", queue, str(i).encode(),
                         pika.BasicProperties(delivery_mode=2), mandatory=True)
    print(f"publish_confirmed: {a.messages} in {time.monotonic() - t0:.2f}s (one at a time)")
    conn.close()

    leader, members = queue_leader(a.dir, 1, queue)
    victim = node_index(leader)
    survivor = 1 if victim != 1 else 2
    print(f"queue: {queue} leader: {leader} members: {' '.join(members)}")

    # 2. a client connected to the victim, blocked in its I/O loop
    seen = {}

    def watch():
        c = pika.BlockingConnection(params(urls[victim - 1]))
        c.channel()
        t = time.monotonic()
        try:
            while True:
                c.process_data_events(time_limit=0.2)
        except Exception as e:  # noqa: BLE001 - we want to see what it is
            seen["exc"] = f"{type(e).__name__}: {e!r}"
            seen["at"] = time.monotonic()
        seen["t"] = t

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    time.sleep(1)
    t_fault = time.monotonic()
    fault = subprocess.Popen([SCRIPT, "kill-node" if a.mode == "kill" else "stop-node",
                              a.dir, str(victim)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)

    # 3. meanwhile a client on a survivor: how long until the queue answers again
    t_elect = None
    deadline = time.monotonic() + 60
    got = []
    last = None
    while time.monotonic() < deadline:
        c = None
        try:
            c = pika.BlockingConnection(params(urls[survivor - 1]))
            ch = c.channel()
            m = ch.basic_get(queue, auto_ack=False)
            if m[0] is not None and "exc" in seen:
                t_elect = time.monotonic()
                ch.basic_nack(m[0].delivery_tag, requeue=True)
                break
            if m[0] is not None:
                ch.basic_nack(m[0].delivery_tag, requeue=True)
            c.close()
        except Exception as e:  # noqa: BLE001
            last = e
            if c is not None and c.is_open:
                c.close()
        time.sleep(0.05)
    fault_err = fault.communicate()[1].strip()
    t_fault_done = time.monotonic()
    th.join(timeout=30)
    print(f"{a.mode}_node: {fault_err}")
    if "exc" in seen:
        print(f"client_on_victim_saw: {seen['exc']} {seen['at'] - t_fault:.2f}s after the "
              f"{a.mode} command started")
    else:
        print("client_on_victim_saw: nothing within 30 s")
    if t_elect is None:
        sys.exit(f"queue never answered on node {survivor}: {last!r}")
    print(f"queue_available_again: {t_elect - seen['at']:.2f}s after the victim's client "
          f"lost its connection (last error meanwhile: {last!r})")
    new_leader, _ = queue_leader(a.dir, survivor, queue)
    print(f"new_leader: {new_leader}")
    ch.basic_qos(prefetch_count=200)
    for method, _props, body in ch.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        got.append(int(body))
        ch.basic_ack(method.delivery_tag)
        if len(got) >= a.messages:
            break
    ch.cancel()
    missing = set(range(a.messages)) - set(got)
    print(f"consumed: {len(got)} distinct: {len(set(got))} missing: {len(missing)}")
    ch.queue_delete(queue)
    c.close()

    # 4. restart and rejoin
    t = time.monotonic()
    sh("start-node", a.dir, str(victim))
    print(f"restart_and_rejoin: node {victim} in {time.monotonic() - t:.2f}s")
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
