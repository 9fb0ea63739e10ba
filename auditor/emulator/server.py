"""The emulator over HTTPS on 127.0.0.1, with a certificate made at start (the SDK's bearer-token policy
refuses plain http). Each connection is served on its own thread, so concurrent clients overlap."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditor.emulator.app import ConnectionReset, EmulatorApp
from auditor.emulator.estate import Estate
from auditor.emulator.faults import EmulatorSettings


@dataclass(frozen=True)
class RunningEmulator:
    url: str  # https://127.0.0.1:PORT, the ARM endpoint (base_url) for the SDK clients
    ca_bundle: str  # PEM of the CA that signed the server certificate: connection_verify= or REQUESTS_CA_BUNDLE
    app: EmulatorApp  # app.stats() tells what the clients did


@contextmanager
def serve(estate: Estate, settings: EmulatorSettings | None = None, *, port: int = 0) -> Iterator[RunningEmulator]:
    app = EmulatorApp(estate, settings)
    with tempfile.TemporaryDirectory(prefix="dr-audit-emulator-") as directory:
        ca_bundle, certificate, key = _make_certificates(Path(directory))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certificate, key)
        server = _Server(("127.0.0.1", port), app, tls)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},  # prompt shutdown
                                  name="dr-audit-emulator", daemon=True)
        thread.start()
        try:
            yield RunningEmulator(f"https://127.0.0.1:{server.server_address[1]}", str(ca_bundle), app)
        finally:
            app.close()
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: EmulatorApp, tls: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End idle keep-alive connections, whose threads would otherwise wait for the client."""
        with self._connections_lock:
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up or fail the TLS handshake are not the emulator's errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ARM clients pool connections
    server: _Server
    timeout = 120

    def setup(self) -> None:
        # TLS per connection on this thread, so a slow handshake never blocks the accept loop.
        self.request.settimeout(self.timeout)
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.server.track(self.request, True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.connection, False)
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; nothing about a request (least of all its token) is written anywhere

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, headers, payload = self.server.app.handle(self.command, self.path, dict(self.headers.items()), body)
        except ConnectionReset:
            self._reset()
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Drop the TCP connection with a RST and no HTTP response, as a failing load balancer does."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.track(self.connection, False)
        self.connection.close()


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost signed by it (a separate CA keeps
    strict verifiers happy, which reject a self-signed leaf used as its own trust anchor)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dr-audit Azure emulator CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, certificate_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, certificate_path, key_path
