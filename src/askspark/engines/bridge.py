"""A trusted Spark Connect bridge: a Unix socket for sandboxed workers, forwarded to a remote endpoint.

Sandboxed workers have no network and must never see credentials, yet a Spark 4 Connect server may ask
for a bearer token. The bridge runs in the askspark process (trusted code only). It serves gRPC on a
Unix socket in a private directory, the only thing bound into a worker's sandbox, and forwards every
Spark Connect call to ``sc://host:port`` as opaque bytes, adding ``authorization: Bearer TOKEN`` on the
way out. Whatever ``authorization`` header a worker sends is dropped, so generated code can neither
read the token nor replace it. Calls are forwarded method by method (the service's own descriptor says
which are streams), so errors and their details (``grpc-status-details-bin``) come back unchanged.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import grpc

from askspark.errors import UsageError

SOCKET_NAME = "connect.sock"
SERVICE = "spark.connect.SparkConnectService"
DEFAULT_PORT = 15002
DROPPED_HEADERS = {"authorization", "user-agent", "te", "content-type"}
MAX_MESSAGE = 256 * 1024 * 1024  # Arrow batches of a large collect; the client's own limit is lower
BRIDGE_THREADS = 32  # concurrent calls: each worker holds a few (execute, reattach, release)


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``sc://host:port/;param=value`` Spark Connect URL."""

    host: str
    port: int
    use_ssl: bool = False

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"sc://{self.target}" + (";use_ssl=true" if self.use_ssl else "")


def parse_remote(url: str | None) -> Endpoint:
    """Parse a Spark Connect URL; a UsageError names what is wrong with it."""
    hint = "set ASKSPARK_REMOTE (or --remote) to sc://HOST:PORT, e.g. sc://127.0.0.1:15002"
    if not url:
        raise UsageError("the connect engine needs a Spark Connect endpoint", suggestion=hint)
    parsed = urlparse(url)
    if parsed.scheme != "sc" or not parsed.hostname:
        raise UsageError(f"not a Spark Connect URL: {url!r}", suggestion=hint)
    params = dict(p.split("=", 1) for p in parsed.path.lstrip("/").split(";") if "=" in p)
    if "token" in params:
        raise UsageError(
            "put the Connect token in ASKSPARK_CONNECT_TOKEN, not in the URL",
            suggestion="the URL is recorded with every run; the token must not be",
        )
    try:
        port = parsed.port or DEFAULT_PORT
    except ValueError:
        raise UsageError(f"bad port in {url!r}", suggestion=hint) from None
    return Endpoint(parsed.hostname, port, params.get("use_ssl", "").lower() == "true")


def reachable(endpoint: Endpoint, seconds: float = 3.0) -> bool:
    """Whether something accepts TCP connections at the endpoint."""
    try:
        with socket.create_connection((endpoint.host.strip("[]"), endpoint.port), timeout=seconds):
            return True
    except OSError:
        return False


def _methods() -> dict[str, tuple[bool, bool]]:
    """Spark Connect's methods: name -> (client streams, server streams), from the client's descriptor."""
    from pyspark.sql.connect.proto import base_pb2

    service = base_pb2.DESCRIPTOR.services_by_name["SparkConnectService"]
    return {m.name: (m.client_streaming, m.server_streaming) for m in service.methods}


class Bridge:
    """A gRPC server on a Unix socket that forwards Spark Connect calls to one endpoint."""

    def __init__(self, endpoint: Endpoint, token: str | None = None) -> None:
        if token and not (endpoint.use_ssl or endpoint.loopback):
            raise UsageError(
                f"refusing to send the Connect token in clear text to {endpoint.host}",
                suggestion="use TLS (sc://HOST:PORT/;use_ssl=true) or a loopback endpoint",
            )
        self.endpoint = endpoint
        self._auth = [("authorization", f"Bearer {token}")] if token else []
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ]
        if endpoint.use_ssl:
            self.channel = grpc.secure_channel(endpoint.target, grpc.ssl_channel_credentials(), options)
        else:
            self.channel = grpc.insecure_channel(endpoint.target, options)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="askspark-bridge-"))  # short: sockets stop at 108 B
        self.server = grpc.server(futures.ThreadPoolExecutor(BRIDGE_THREADS), options=options)
        handlers = {name: self._handler(name, *kind) for name, kind in _methods().items()}
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        self.server.add_insecure_port(f"unix://{self.socket_path}")
        self.server.start()

    @property
    def socket_path(self) -> str:
        return str(self.socket_dir / SOCKET_NAME)

    def _metadata(self, context: grpc.ServicerContext) -> list[tuple[str, Any]]:
        """The caller's headers without any it may not set, plus the token."""
        kept = [
            (key, value)
            for key, value in context.invocation_metadata()
            if key.lower() not in DROPPED_HEADERS and not key.startswith((":", "grpc-"))
        ]
        return kept + self._auth

    def _handler(self, name: str, client_streams: bool, server_streams: bool) -> grpc.RpcMethodHandler:
        method = f"/{SERVICE}/{name}"
        make = {
            (False, False): (self.channel.unary_unary, grpc.unary_unary_rpc_method_handler),
            (False, True): (self.channel.unary_stream, grpc.unary_stream_rpc_method_handler),
            (True, False): (self.channel.stream_unary, grpc.stream_unary_rpc_method_handler),
            (True, True): (self.channel.stream_stream, grpc.stream_stream_rpc_method_handler),
        }
        stub_factory, handler_factory = make[(client_streams, server_streams)]
        stub = stub_factory(method)  # no serializers: messages pass through as bytes

        if server_streams:

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
                call = stub(request, metadata=self._metadata(context))
                context.add_callback(call.cancel)  # a worker that goes away cancels the remote call
                try:
                    yield from call
                except grpc.RpcError as exc:
                    _relay(exc, context)

            return handler_factory(stream)

        def unary(request: Any, context: grpc.ServicerContext) -> bytes:
            try:
                response, call = stub.with_call(request, metadata=self._metadata(context))
                return response
            except grpc.RpcError as exc:
                _relay(exc, context)
                raise  # unreachable: _relay aborts

        return handler_factory(unary)

    def close(self) -> None:
        self.server.stop(grace=1).wait(5)
        self.channel.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def _relay(exc: grpc.RpcError, context: grpc.ServicerContext) -> None:
    """Return the remote error to the caller as it came: code, message and trailing details."""
    trailing = [(k, v) for k, v in (exc.trailing_metadata() or ()) if not k.startswith(":")]  # type: ignore[attr-defined]
    context.set_trailing_metadata(trailing)
    context.abort(exc.code(), exc.details() or "")  # type: ignore[attr-defined]
