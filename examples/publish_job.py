"""Publish a purge job to purgehook's RabbitMQ exchange, as any service may.

    pip install pika
    python3 examples/publish_job.py site https://site.example/pricing/
"""
import datetime
import json
import sys
import uuid

import pika

target, urls = sys.argv[1], sys.argv[2:]
job = {
    "v": 1,
    "id": str(uuid.uuid4()),
    "target": target,
    "action": {"kind": "urls", "urls": urls},
    "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "attempt": 0,
}

connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
channel = connection.channel()
channel.confirm_delivery()  # basic_publish raises unless the broker confirms
channel.basic_publish(
    exchange="purgehook.jobs",
    routing_key=target,  # the target id routes the job to its queue
    body=json.dumps(job),
    properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
)
connection.close()
print(f"published job {job['id']} for {target}")
