"""A JSON-RPC client over one keep-alive http.client connection, modelled on
Bitcoin Core's test_framework/authproxy.py."""

import base64
import decimal
import http.client
import json
import urllib.parse


class JSONRPCException(Exception):
    """An RPC error reply: .error is {"code": .., "message": ..}; .http_status the status."""

    def __init__(self, rpc_error, http_status=None):
        try:
            errmsg = "%(message)s (%(code)i)" % rpc_error
        except (KeyError, TypeError):
            errmsg = ""
        super().__init__(errmsg)
        self.error = rpc_error
        self.http_status = http_status


class AuthServiceProxy:
    """Calls methods as attributes: proxy.getblockcount(), proxy.getblock(h, verbosity=2)."""

    def __init__(self, url, timeout=60, method=None, connection=None):
        self._url = urllib.parse.urlparse(url)
        self._method = method
        self._timeout = timeout
        user = urllib.parse.unquote(self._url.username or "")
        password = urllib.parse.unquote(self._url.password or "")
        self._auth = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
        self._conn = connection or http.client.HTTPConnection(
            self._url.hostname, self._url.port, timeout=timeout)
        self._id = 0

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        method = name if self._method is None else f"{self._method}.{name}"
        return AuthServiceProxy(self._url.geturl(), self._timeout, method, self._conn)

    def _request(self, body, path=None):
        headers = {
            "Host": self._url.hostname,
            "Authorization": self._auth.decode(),
            "Content-Type": "application/json",
        }
        path = path or self._url.path or "/"
        try:
            self._conn.request("POST", path, body, headers)
            resp = self._conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed a kept-alive connection; retry once on a fresh one.
            self._conn.close()
            self._conn.request("POST", path, body, headers)
            resp = self._conn.getresponse()
        data = resp.read()
        return resp.status, data

    def raw_request(self, body, path=None):
        """POSTs raw bytes; returns (http status, parsed JSON body or None)."""
        status, data = self._request(body, path)
        try:
            parsed = json.loads(data.decode(), parse_float=decimal.Decimal) if data else None
        except ValueError:
            parsed = None
        return status, parsed

    def __call__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("use positional or named parameters, not both")
        self._id += 1
        body = json.dumps({
            "version": "1.1",
            "method": self._method,
            "params": kwargs if kwargs else list(args),
            "id": self._id,
        }, default=_encode_decimal)
        status, reply = self.raw_request(body)
        if reply is None:
            raise JSONRPCException({"code": -342, "message": f"non-JSON HTTP response with status {status}"}, status)
        if reply.get("error") is not None:
            raise JSONRPCException(reply["error"], status)
        if "result" not in reply:
            raise JSONRPCException({"code": -343, "message": "missing JSON-RPC result"}, status)
        return reply["result"]

    def batch(self, requests):
        """Sends a list of request objects; returns the list of replies."""
        status, reply = self.raw_request(json.dumps(requests, default=_encode_decimal))
        if reply is None:
            raise JSONRPCException({"code": -342, "message": f"non-JSON HTTP response with status {status}"}, status)
        return reply

    def close(self):
        self._conn.close()


def _encode_decimal(o):
    if isinstance(o, decimal.Decimal):
        return float(o)
    raise TypeError(repr(o) + " is not JSON serializable")
