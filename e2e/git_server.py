"""A Git server for the drill: Git's own smart-HTTP backend (`git http-backend`) behind a small
WSGI server on 127.0.0.1, serving every repository under ROOT read-only.

    python e2e/git_server.py ROOT PORTFILE

Listens on a free port of 127.0.0.1 and writes it to PORTFILE; stops on SIGTERM.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def application(root: str):
    def serve(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "PATH": "/usr/bin:/bin",
            **{key: environ.get(key, "") for key in (
                "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "REMOTE_ADDR")},
            "CONTENT_LENGTH": str(len(body)),
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=cgi_env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start_response(status, headers)
        return [payload]
    return serve


def main(root: str, portfile: str) -> None:
    server = make_server("127.0.0.1", 0, application(str(Path(root).resolve())),
                         server_class=ThreadingServer, handler_class=QuietHandler)
    Path(portfile).write_text(str(server.server_port))
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:3])
