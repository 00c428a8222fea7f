#!/usr/bin/env python3
"""Row 1 of the fault table, measured: a full disk under a stream of deliveries.

The release binary serves with its embedded store on a small tmpfs (16 MB by
default) and the `log` provider; senders post signed Standard Webhooks
deliveries (one post id each) at a steady rate. After `--before` seconds the
disk is filled with a filler file; after `--full` more it is deleted; the
stream goes on for `--after` seconds, then stops and the script waits for the
queue to drain. It reports how many deliveries got 202 and 503 (and whether
every 503 carried Retry-After), when /readyz went 503 and came back to 200,
and, from the provider's log lines, that every accepted post id was purged
exactly once (nothing lost, no batch called twice) and no refused one was.

Needs root (mount). Usage, from the repository root:

    cargo build --release
    sudo python3 benches/faults/full_disk.py [--size 16m] [--rate 200]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from common import ROUTED_TO_EDGE, SECRET, Run, poll_ready, read_log, send

CONFIG = """
[server]
listen = "127.0.0.1:0"
[queue]
path = "{queue}"
""" + ROUTED_TO_EDGE


WATCHED = ("cannot settle batch", "batch settled after all", "the store cannot write",
           "the store takes writes again", "a commit that reported an error")


def fill(directory):
    path = os.path.join(directory, "filler")
    with open(path, "ab", buffering=0) as filler:
        for size in (1 << 20, 1 << 16, 4096, 512):
            chunk = b"\x42" * size
            try:
                while True:
                    filler.write(chunk)
            except OSError:
                pass
    return path


def report(run, t_fill, t_free):
    answers = run.answers
    accepted = run.accepted()
    refused = {a[1] for a in answers if a[2] == 503}
    first_503 = min((a[0] for a in answers if a[2] == 503), default=None)
    phases = {
        "before the fill": (0, t_fill),
        "disk full": (t_fill, t_free),
        "after freeing": (t_free, float("inf")),
    }
    print(f"deliveries: {len(answers)}: {len(accepted)} x 202, {len(refused)} x 503, "
          f"{len(answers) - len(accepted) - len(refused)} other")
    for name, (start, end) in phases.items():
        inside = [a for a in answers if start <= a[0] < end]
        ok = sum(1 for a in inside if a[2] == 202)
        print(f"  {name:16} {len(inside):6} sent, {ok:6} x 202, {len(inside) - ok:6} refused")
    print(f"every 503 had Retry-After: {all(a[3] for a in answers if a[2] == 503)}")
    if first_503 is not None:
        taken = sum(1 for a in answers if t_fill <= a[0] < first_503 and a[2] == 202)
        print(f"first 503 {1000 * (first_503 - t_fill):.0f} ms after the fill "
              f"({taken} deliveries accepted on the full disk before it)")
    late_202 = [a for a in answers if first_503 is not None and first_503 < a[0] < t_free and a[2] == 202]
    print(f"202s between the first 503 and freeing: {len(late_202)}")
    for t, status in run.ready.get("serve", []):
        print(f"  /readyz {status} from t={t:.3f}s")
    back = [t for t, status in run.ready.get("serve", []) if status == 200 and t >= t_free]
    if back:
        print(f"/readyz 200 again {1000 * (back[0] - t_free):.0f} ms after space was freed")
    for t, _, message in run.events:
        print(f"  t={t:.3f}s {message}")
    lost = sorted(accepted - set(run.purged))
    twice = sorted(i for i, n in run.purged.items() if n > 1)
    purged_refused = sorted(refused & set(run.purged))
    print(f"accepted and never purged: {len(lost)} {lost[:10]}")
    print(f"purged more than once: {len(twice)} {twice[:10]}")
    print(f"refused (503) yet purged: {len(purged_refused)} {purged_refused[:10]}")
    return not lost and not twice and not purged_refused


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/purgehook")
    parser.add_argument("--size", default="16m")
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second, in all")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--before", type=float, default=2.0)
    parser.add_argument("--full", type=float, default=4.0)
    parser.add_argument("--after", type=float, default=3.0)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="purgehook-full-disk-")
    disk = os.path.join(work, "disk")
    os.mkdir(disk)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size}", "tmpfs", disk], check=True)
    app = None
    try:
        config = os.path.join(work, "purgehook.toml")
        with open(config, "w") as out:
            out.write(CONFIG.format(queue=os.path.join(disk, "queue"), secret=SECRET))
        run = Run()
        serving = {}
        env = dict(os.environ, PURGEHOOK_CONFIG=config, RUST_LOG="info")
        app = subprocess.Popen([args.binary, "serve"], env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
        threading.Thread(target=read_log, args=(app.stderr, run, "serve", serving, WATCHED),
                         daemon=True).start()
        deadline = time.monotonic() + 10
        while "serve" not in serving and time.monotonic() < deadline:
            time.sleep(0.02)
        if "serve" not in serving:
            sys.exit("the binary did not start serving")
        port = serving["serve"]
        threads = [threading.Thread(target=send, args=(run, port, args.rate / args.senders, 10))
                   for _ in range(args.senders)]
        threads.append(threading.Thread(target=poll_ready, args=(run, "serve", port)))
        for thread in threads:
            thread.start()
        time.sleep(args.before)
        t_fill = run.now()
        filler = fill(disk)
        time.sleep(args.full)
        os.remove(filler)
        t_free = run.now()
        time.sleep(args.after)
        run.stop.set()
        for thread in threads:
            thread.join()
        run.wait_purged(30)
        ok = report(run, t_fill, t_free)
        print("PASS: nothing accepted was lost, nothing purged twice" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            app.wait(10)
        if subprocess.run(["umount", disk], check=False).returncode == 0:
            shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
