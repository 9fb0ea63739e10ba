"""An azure-core transport that answers in process from an EmulatorApp: the real SDK clients and their
pipelines (auth, retries, deserialisation) run unchanged, only the socket is missing. For fast tests."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from azure.core.exceptions import ServiceResponseError, ServiceResponseTimeoutError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

from auditor.emulator.app import ConnectionReset, EmulatorApp, ResponseTimeout

_DEFAULT_READ_TIMEOUT = 300.0  # azure-core's default, as RequestsTransport uses it


class _InProcessResponse(HttpResponseImpl):
    """A complete, already-read response (HttpResponseImpl is the base azure-core builds its own
    transport responses on)."""

    def __init__(self, request: HttpRequest, status: int, headers: Mapping[str, str], body: bytes) -> None:
        headers = case_insensitive_dict(headers)
        super().__init__(request=request, internal_response=None, status_code=status, reason=_reason(status),
                         content_type=headers.get("Content-Type"), headers=headers, stream_download_generator=None)
        self._content = body
        self._is_stream_consumed = True

    def close(self) -> None:
        self._is_closed = True


class EmulatorTransport(HttpTransport):
    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    def send(self, request: HttpRequest, **kwargs: Any) -> _InProcessResponse:  # type: ignore[override]
        if not isinstance(request, HttpRequest):
            raise TypeError("EmulatorTransport serves azure.core.rest.HttpRequest requests only.")
        body = request.content
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif hasattr(body, "read"):
            body = body.read()
        try:
            status, headers, payload = self.app.handle(request.method, request.url, dict(request.headers), bytes(body),
                                                       timeout=kwargs.get("read_timeout") or _DEFAULT_READ_TIMEOUT)
        except ConnectionReset as exc:
            # What RequestsTransport raises when the server drops the connection mid-request.
            raise ServiceResponseError("Connection aborted: the remote end closed the connection without a response.",
                                       error=exc) from exc
        except ResponseTimeout as exc:
            raise ServiceResponseTimeoutError(f"Read timed out: {exc}.", error=exc) from exc
        return _InProcessResponse(request, status, headers, payload)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> EmulatorTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
