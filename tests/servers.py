"""Servers the remote-store tests start on 127.0.0.1: a plain HTTP server over a folder (with a delay per
request, a request log and answers forced per path, to mimic a remote archive and its failures), and moto's
S3-compatible server with a public and a private bucket.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class HttpServer:
    """What a running :func:`http_server` serves and has seen.

    ``delay`` (seconds per request), ``status`` (a path prefix -> the status answered for it, e.g. 403) and
    ``stall`` (path prefixes answered only after ``stall_seconds``) may be changed while it runs.
    """

    url: str
    delay: float = 0.0
    status: dict[str, int] = field(default_factory=dict)
    stall: tuple[str, ...] = ()
    stall_seconds: float = 30.0
    requests: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.arrivals.clear()
            self.bytes_sent = 0

    def round_trips(self) -> int:
        """How many bursts the requests came in: a request arriving more than half the delay after the first
        of its burst starts another (a client that waits for an answer before asking again)."""
        bursts, start = 0, None
        for arrival in sorted(self.arrivals):
            if start is None or arrival - start > self.delay / 2:
                bursts, start = bursts + 1, arrival
        return bursts


def _handler(state: HttpServer, folder: Path):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def _answered(self) -> bool:
            """Wait the delay, count the request; True where a forced answer was sent."""
            with state.lock:
                state.requests.append(f"{self.command} {self.path}")
                state.arrivals.append(time.monotonic())
            time.sleep(state.delay)
            if any(self.path.startswith(prefix) for prefix in state.stall):
                time.sleep(state.stall_seconds)
            for prefix, status in state.status.items():
                if self.path.startswith(prefix):
                    self.send_error(status)
                    return True
            return False

        def copyfile(self, source, outputfile):
            data = source.read()
            with state.lock:
                state.bytes_sent += len(data)
            outputfile.write(data)

        def do_GET(self):
            if not self._answered():
                super().do_GET()

        def do_HEAD(self):
            if not self._answered():
                super().do_HEAD()

    return functools.partial(Handler, directory=str(folder))


@contextmanager
def http_server(folder: Path, delay: float = 0.0) -> Iterator[HttpServer]:
    """Serve ``folder`` at ``http://127.0.0.1:PORT/`` (a free port) while in the block."""
    state = HttpServer(url="", delay=delay)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, folder), bind_and_activate=False)
    # a web server's backlog, not socketserver's 5: a burst of concurrent requests would otherwise wait 1 s
    # for a dropped connection to be tried again
    server.request_queue_size = 128
    server.server_bind()
    server.server_activate()
    server.daemon_threads = True
    # a client that hangs up mid-answer (a test done with its reads, a timeout) is not an error of the test:
    # socketserver would print its traceback to stderr, into whichever test captures stderr next
    server.handle_error = lambda request, client_address: None
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class S3Server:
    """A running moto S3 server: its endpoint, and the keys that may read the private bucket."""

    endpoint: str
    public: str = "public-bucket"
    private: str = "private-bucket"
    key_id: str = "testing-key"
    secret: str = "testing-secret"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def upload(self, folder: Path, bucket: str, prefix: str) -> str:
        """Copy the store ``folder`` into ``bucket`` under ``prefix``; its ``s3://`` URL."""
        client = self.client()
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                client.upload_file(str(file), bucket, f"{prefix}/{file.relative_to(folder).as_posix()}")
        return f"s3://{bucket}/{prefix}"


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, with a public bucket (anyone may read it) and a private one."""
    import json

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    state = S3Server(endpoint=f"http://{host}:{port}")
    client = state.client()
    for bucket in (state.public, state.private):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_policy(Bucket=state.public, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": [f"arn:aws:s3:::{state.public}", f"arn:aws:s3:::{state.public}/*"]}],
    }))
    try:
        yield state
    finally:
        server.stop()
