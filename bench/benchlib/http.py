"""A tiny keep-alive HTTP client for seeding and calibration (stdlib only)."""

import http.client
import json
import threading
import urllib.parse


class HttpError(RuntimeError):
    pass


class Client:
    """One keep-alive connection per thread to `base_url`."""

    def __init__(self, base_url, headers=None):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.headers = headers or {}
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
        return conn

    def request(self, method, path, body=None, headers=None, form=None):
        """Returns (status, response headers, parsed JSON or text)."""
        all_headers = dict(self.headers, **(headers or {}))
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=all_headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return response.status, response.headers, parsed

    def ok(self, method, path, **kwargs):
        """Like request(), but raises unless the status is 2xx."""
        status, headers, parsed = self.request(method, path, **kwargs)
        if not 200 <= status < 300:
            raise HttpError(f"{method} {path}: {status} {str(parsed)[:500]}")
        return headers, parsed
