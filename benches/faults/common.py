"""What the fault scripts share: signed Standard Webhooks deliveries, a run's
record (answers, /readyz changes, purges read from the log provider's JSON
lines), senders at a steady rate and a /readyz poller."""

import base64
import hashlib
import hmac
import http.client
import json
import threading
import time
import uuid

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# The configuration's end both scripts share (a str.format template, like
# theirs): JSON logs, a Standard Webhooks source and one `log` target that
# each published post's id is purged at.
ROUTED_TO_EDGE = """[log]
format = "json"
[sources.wp]
kind = "standard"
secrets = ["{secret}"]
[targets.edge]
provider = "log"
window = "100ms"
[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "edge"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"""


def signed(post_id):
    """A Standard Webhooks delivery purging `post_id`: (headers, body)."""
    body = json.dumps({
        "type": "post.published",
        "timestamp": "2026-11-23T20:31:00Z",
        "data": {"post": {"ID": post_id, "post_type": "post", "post_title": "Hello"}},
    }).encode()
    msg_id = "msg_" + uuid.uuid4().hex
    ts = str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    return headers, body


class Run:
    """What the app logged and what the senders and the pollers saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.next_id = 1
        self.answers = []  # (t, post id, status, has Retry-After, seconds taken)
        self.ready = {}  # name -> [(t, status) at each change]
        self.purged = {}  # post id -> calls
        self.events = []  # (t, process, message) of the lines watched
        self.stop = threading.Event()

    def now(self):
        return time.monotonic() - self.start

    def take_id(self):
        with self.lock:
            post_id = self.next_id
            self.next_id += 1
            return post_id

    def accepted(self):
        with self.lock:
            return {a[1] for a in self.answers if a[2] in (200, 202)}

    def wait_purged(self, seconds):
        """Waits until every accepted post was purged; True if it was."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.accepted() <= set(self.purged):
                return True
            time.sleep(0.1)
        return False


def read_log(stream, run, name, serving, watched=()):
    """Reads a process's JSON log: its port once serving, its purges, and
    the lines starting with one of `watched`."""
    for raw in stream:
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        fields = line.get("fields", {})
        message = fields.get("message", "")
        if message == "purgehook is serving":
            serving[name] = int(fields["port"])
        elif message == "purge (log provider)":
            ids = json.loads(fields["action"]).get("post_ids", [])
            with run.lock:
                for post_id in ids:
                    run.purged[post_id] = run.purged.get(post_id, 0) + 1
        elif message.startswith(tuple(watched)):
            with run.lock:
                run.events.append((run.now(), name, message))


def send(run, port, rate, timeout=30):
    """Posts signed deliveries at `rate` per second until the run stops."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    period = 1.0 / rate
    due = time.monotonic()
    while not run.stop.is_set():
        post_id = run.take_id()
        headers, body = signed(post_id)
        sent = time.monotonic()
        try:
            connection.request("POST", "/hooks/wp", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status, retry_after = response.status, response.getheader("Retry-After") is not None
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            status, retry_after = 0, False
        with run.lock:
            run.answers.append((run.now(), post_id, status, retry_after, time.monotonic() - sent))
        due += period
        time.sleep(max(0.0, due - time.monotonic()))


def poll_ready(run, name, port, every=0.01):
    """Records each change of `name`'s /readyz status (0: no answer)."""
    last = None
    while not run.stop.is_set():
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
            status = response.status
            connection.close()
        except (OSError, http.client.HTTPException):
            status = 0
        if status != last:
            last = status
            with run.lock:
                run.ready.setdefault(name, []).append((run.now(), status))
        time.sleep(every)


def percentile(values, share):
    values = sorted(values)
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(share * len(values)))]
