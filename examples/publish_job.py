#!/usr/bin/env python3
"""Publish a purge job to purgehook's RabbitMQ exchange, as any service may.

    pip install -r examples/requirements.txt
    python3 examples/publish_job.py --target site --url https://site.example/pricing/
    python3 examples/publish_job.py --target site --post-id 42 --related
    AMQP_URL=amqp://user:password@broker:5672/%2f python3 examples/publish_job.py --target blog --everything

The job (README, "Job message (v1)") goes to the `<prefix>.jobs` exchange with
the target as routing key: persistent, with its id as message_id, and
published with publisher confirms, so "published" means the broker has it.
Prints the job id. Exit 2 for bad arguments, 1 when the broker refuses.
"""
import argparse
import datetime
import json
import os
import secrets
import sys
import time
import urllib.parse
import uuid

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"
MAX_ITEMS = 10_000  # what purgehook accepts in one action


def uuid7():
    """A UUID v7 (time-ordered), like purgehook's own job ids."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Publish a purge job (v1) to purgehook's RabbitMQ exchange.",
        epilog="The broker is AMQP_URL (default %s); the exchange is "
        "<prefix>.jobs, the prefix being --prefix-name, else PURGEHOOK_PREFIX, "
        "else PURGEHOOK__QUEUE__PREFIX, else purgehook." % DEFAULT_AMQP_URL,
    )
    parser.add_argument("--target", required=True, help="the target id ([targets.<id>] of the configuration)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--url", action="append", metavar="URL", help="an absolute http(s) URL (repeatable)")
    what.add_argument("--prefix", action="append", metavar="PREFIX", help="a URL prefix (repeatable)")
    what.add_argument("--tag", action="append", metavar="TAG", help="a cache tag / surrogate key (repeatable)")
    what.add_argument("--post-id", action="append", type=int, metavar="ID", help="a WordPress post id (repeatable)")
    what.add_argument("--scope", action="append", metavar="SCOPE", help="a named cache area of the provider (repeatable)")
    what.add_argument("--everything", action="store_true", help="everything the target caches")
    parser.add_argument("--related", action="store_true", help="with --post-id: also the pages the posts appear on")
    parser.add_argument("--full", action="store_true", help="with --scope or --everything: the provider's full refresh")
    parser.add_argument(
        "--prefix-name",
        default=os.environ.get("PURGEHOOK_PREFIX") or os.environ.get("PURGEHOOK__QUEUE__PREFIX") or "purgehook",
        help="purgehook's [queue] prefix (default: $PURGEHOOK_PREFIX, else purgehook)",
    )
    args = parser.parse_args(argv)
    args.action = build_action(parser, args)
    if not args.target.strip():
        parser.error("--target must not be empty")
    if not args.prefix_name.strip():
        parser.error("--prefix-name must not be empty")
    return args


def build_action(parser, args):
    """The job's action from the options, checked as purgehook checks it."""
    if args.related and args.post_id is None:
        parser.error("--related goes with --post-id")
    if args.full and args.scope is None and not args.everything:
        parser.error("--full goes with --scope or --everything")
    if args.everything:
        return {"kind": "everything", "full": True} if args.full else {"kind": "everything"}
    if args.post_id is not None:
        items, option = args.post_id, "--post-id"
        bad = [n for n in items if n < 1]
        if bad:
            parser.error("--post-id: post ids start at 1; got %d" % bad[0])
        action = {"kind": "post_ids", "post_ids": items, "related": args.related}
    elif args.url is not None:
        items, option = args.url, "--url"
        for url in items:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                parser.error("--url: %r is not an absolute http(s) URL (e.g. https://site.example/about/)" % url)
        action = {"kind": "urls", "urls": items}
    elif args.prefix is not None:
        items, option = args.prefix, "--prefix"
        action = {"kind": "prefixes", "prefixes": items}
    elif args.tag is not None:
        items, option = args.tag, "--tag"
        action = {"kind": "tags", "tags": items}
    else:
        items, option = args.scope, "--scope"
        action = {"kind": "scopes", "scopes": items, "full": args.full}
    if any(isinstance(item, str) and not item.strip() for item in items):
        parser.error("%s: empty value" % option)
    if len(items) > MAX_ITEMS:
        parser.error("%s: %d values; purgehook takes at most %d in one job" % (option, len(items), MAX_ITEMS))
    return action


def broker_name(url):
    """The broker's host, port and vhost, for messages: never the password."""
    parts = urllib.parse.urlsplit(url)
    default_port = 5671 if parts.scheme == "amqps" else 5672
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return "%s:%s (vhost %s)" % (parts.hostname, parts.port or default_port, vhost)


def reason(error, url):
    """pika's description of a connection error, without the password."""
    if isinstance(error, OSError):  # e.g. a host name that does not resolve
        text = str(error)
    else:  # pika keeps the cause, e.g. ConnectionRefusedError, in its args
        text = "; ".join(repr(arg) if isinstance(arg, Exception) else str(arg) for arg in error.args)
    text = text or type(error).__name__
    password = urllib.parse.urlsplit(url).password
    return text.replace(password, "***") if password else text


def main(argv):
    args = parse_args(argv)
    try:
        import pika
        import pika.exceptions
    except ImportError:
        sys.exit("publish_job.py needs pika: pip install -r examples/requirements.txt")

    amqp_url = os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL
    if urllib.parse.urlsplit(amqp_url).scheme not in ("amqp", "amqps"):
        sys.exit("AMQP_URL must be an amqp:// or amqps:// URL, e.g. %s" % DEFAULT_AMQP_URL)
    exchange = args.prefix_name + ".jobs"
    job = {
        "v": 1,
        "id": str(uuid7()),
        "target": args.target,
        "action": args.action,
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attempt": 0,
    }

    try:
        parameters = pika.URLParameters(amqp_url)
    except Exception as e:  # pika's message may quote the URL: show only the broker
        sys.exit("AMQP_URL is not a valid amqp:// URL (%s)" % type(e).__name__)
    try:
        connection = pika.BlockingConnection(parameters)
    except pika.exceptions.ProbableAuthenticationError:
        sys.exit("RabbitMQ at %s refused the user name or password of AMQP_URL" % broker_name(amqp_url))
    except pika.exceptions.ProbableAccessDeniedError:
        sys.exit("RabbitMQ at %s: the vhost does not exist or AMQP_URL's user may not use it"
                 % broker_name(amqp_url))
    except (pika.exceptions.AMQPConnectionError, OSError) as e:
        sys.exit("cannot connect to RabbitMQ at %s: %s" % (broker_name(amqp_url), reason(e, amqp_url)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # basic_publish now waits for the broker's confirm
        channel.basic_publish(
            exchange=exchange,
            routing_key=args.target,  # the target id routes the job to its queue
            body=json.dumps(job),
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=job["id"],
            ),
            mandatory=True,
        )
    except pika.exceptions.ChannelClosedByBroker as e:
        if e.reply_code == 404:
            sys.exit(
                "exchange %r not found on %s — is purgehook running? Its receivers and "
                "workers declare it at start (with --prefix-name %s: is that purgehook's "
                "[queue] prefix?)" % (exchange, broker_name(amqp_url), args.prefix_name)
            )
        sys.exit("RabbitMQ refused the job: %s %s" % (e.reply_code, e.reply_text))
    except pika.exceptions.UnroutableError:
        sys.exit("RabbitMQ could not route the job: no queue is bound to %r" % exchange)
    except pika.exceptions.NackError:
        sys.exit("RabbitMQ did not store the job (negative confirm); publish it again")
    except pika.exceptions.AMQPError as e:
        sys.exit("lost RabbitMQ at %s before the job was confirmed (%s); publish it again"
                 % (broker_name(amqp_url), type(e).__name__))
    finally:
        if connection.is_open:
            connection.close()
    print("published job %s for target %s (%s)" % (job["id"], args.target, args.action["kind"]))


if __name__ == "__main__":
    main(sys.argv[1:])
