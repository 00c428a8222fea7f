#!/usr/bin/env python3
"""A TCP proxy that can fall silent: a network partition that closes nothing.

    python3 tests/support/silent_proxy.py --listen 127.0.0.1:36200 --upstream 127.0.0.1:36100 \
        [--control 127.0.0.1:36201]

Forwards every connection made to --listen to --upstream, byte for byte, until
it is told to freeze. While frozen it neither reads nor writes on any socket,
in either direction, and closes none: both peers see an open TCP connection
over which nothing arrives, as behind a firewall that drops packets. Their
kernels' buffers fill, then their writes wait. A connection accepted while
frozen is held too (the TCP connect succeeds, nothing more: an AMQP handshake
hangs). On thaw the held bytes flow again, in order, as TCP would deliver them
once a partition heals; a peer that gave up meanwhile has closed its end.

Control, either way:
  * signals: SIGUSR1 freeze, SIGUSR2 thaw, SIGTERM/SIGINT quit;
  * --control HOST:PORT: a line protocol, one command a connection or several:
    `freeze`, `thaw`, `cut` (abort every proxied connection with a RST),
    `status` (frozen or flowing, and how many connections); each answers one line.

Prints `listening on HOST:PORT` on stdout once it accepts (wait for that line),
and one stderr line per event. Standard library only; Python 3.8+.
"""
import argparse
import asyncio
import signal
import sys
import time

START = time.monotonic()


def log(msg):
    print(f"[silent_proxy {time.monotonic() - START:8.3f}s] {msg}", file=sys.stderr, flush=True)


def hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


class Proxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.conns = set()  # (client_writer, upstream_writer)
        self.accepted = 0

    def freeze(self):
        if self.flowing.is_set():
            self.flowing.clear()
            log(f"frozen: no byte forwarded either way on {len(self.conns)} connection(s)")

    def thaw(self):
        if not self.flowing.is_set():
            self.flowing.set()
            log(f"thawed: forwarding again on {len(self.conns)} connection(s)")

    def cut(self):
        n = len(self.conns)
        for cw, uw in list(self.conns):
            for w in (cw, uw):
                if w is not None:
                    w.transport.abort()
        self.conns.clear()
        log(f"cut: aborted {n} connection(s)")
        return n

    def status(self):
        state = "flowing" if self.flowing.is_set() else "frozen"
        return f"{state} connections={len(self.conns)} accepted={self.accepted}"

    async def pump(self, reader, writer, name):
        try:
            while True:
                await self.flowing.wait()
                data = await reader.read(65536)
                # frozen while that read waited: hold what came until thawed
                await self.flowing.wait()
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError) as e:
            log(f"{name}: {e!r}")
        finally:
            # one direction ended: end the other one too, as a plain proxy does
            writer.close()

    async def handle(self, creader, cwriter):
        self.accepted += 1
        peer = cwriter.get_extra_info("peername")
        entry = [cwriter, None]
        key = None
        try:
            # while frozen, a new client gets its TCP connection and nothing else
            await self.flowing.wait()
            try:
                ureader, uwriter = await asyncio.open_connection(*self.upstream)
            except OSError as e:
                log(f"{peer}: upstream {self.upstream} refused: {e!r}")
                cwriter.transport.abort()
                return
            entry[1] = uwriter
            key = (cwriter, uwriter)
            self.conns.add(key)
            log(f"{peer}: connected to upstream ({len(self.conns)} open)")
            await asyncio.gather(
                self.pump(creader, uwriter, f"{peer} client->upstream"),
                self.pump(ureader, cwriter, f"{peer} upstream->client"),
            )
        except asyncio.CancelledError:
            pass  # the proxy is quitting
        finally:
            if key in self.conns:
                self.conns.discard(key)
            log(f"{peer}: closed ({len(self.conns)} open)")

    async def control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode(errors="replace").strip().lower()
                if cmd == "freeze":
                    self.freeze()
                    answer = "ok frozen"
                elif cmd == "thaw":
                    self.thaw()
                    answer = "ok flowing"
                elif cmd == "cut":
                    answer = f"ok cut {self.cut()}"
                elif cmd == "status":
                    answer = self.status()
                elif cmd == "":
                    continue
                else:
                    answer = f"error unknown command {cmd!r} (freeze, thaw, cut, status)"
                writer.write((answer + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, type=hostport, help="HOST:PORT to accept on")
    ap.add_argument("--upstream", required=True, type=hostport, help="HOST:PORT to forward to")
    ap.add_argument("--control", type=hostport, help="HOST:PORT for freeze/thaw/cut/status lines")
    ap.add_argument("--frozen", action="store_true", help="start frozen")
    a = ap.parse_args()

    proxy = Proxy(a.upstream)
    if a.frozen:
        proxy.freeze()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.freeze)
    loop.add_signal_handler(signal.SIGUSR2, proxy.thaw)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    server = await asyncio.start_server(proxy.handle, *a.listen)
    ctl = await asyncio.start_server(proxy.control, *a.control) if a.control else None
    log(f"{a.listen[0]}:{a.listen[1]} -> {a.upstream[0]}:{a.upstream[1]}"
        + (f", control on {a.control[0]}:{a.control[1]}" if a.control else ""))
    print(f"listening on {a.listen[0]}:{a.listen[1]}", flush=True)
    await stop.wait()
    server.close()
    if ctl:
        ctl.close()
    proxy.cut()
    log("quit")


if __name__ == "__main__":
    asyncio.run(main())
