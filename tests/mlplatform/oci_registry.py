"""A small OCI distribution registry on 127.0.0.1 for the mirror tests.

It stores manifests and blobs in memory and speaks the parts of the distribution API a
copy uses: ``GET/HEAD /v2/<name>/manifests/<ref>`` (with ``Docker-Content-Digest``),
``PUT`` manifests, ``GET/HEAD`` blobs, ``POST`` upload + ``PUT ?digest=`` (monolithic).
``auth="bearer"`` answers 401 with a token-service challenge (as public registries do),
``auth="basic"`` wants fixed credentials (as ECR does). Uploads are checked against their
digest, as a real registry does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """``with Registry(auth=...) as reg:`` -> ``reg.host`` is ``127.0.0.1:<port>``."""

    def __init__(self, auth: str | None = None, user: str = "AWS", password: str = "pw") -> None:  # noqa: S107
        self.auth = auth
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.token = uuid.uuid4().hex
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- seeding ----------------------------------------------------------------------
    def push_image(
        self, repository: str, tag: str, layers: list[bytes], index: bool = False
    ) -> str:
        """Store an image (optionally as a one-platform index); return the tag's digest."""
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        for blob in (config, *layers):
            self.blobs[digest_of(blob)] = blob
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": digest_of(b),
                        "size": len(b),
                    }
                    for b in layers
                ],
            },
            sort_keys=True,
        ).encode()
        self.manifests[(repository, digest_of(manifest))] = (manifest, MANIFEST)
        top, media = manifest, MANIFEST
        if index:
            top = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": INDEX,
                    "manifests": [
                        {
                            "mediaType": MANIFEST,
                            "digest": digest_of(manifest),
                            "size": len(manifest),
                            "platform": {"architecture": "amd64", "os": "linux"},
                        }
                    ],
                },
                sort_keys=True,
            ).encode()
            media = INDEX
            self.manifests[(repository, digest_of(top))] = (top, media)
        self.manifests[(repository, tag)] = (top, media)
        return digest_of(top)

    # -- server -----------------------------------------------------------------------
    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Registry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "")
                if registry.auth == "bearer" and given != f"Bearer {registry.token}":
                    realm = f"http://{registry.host}/token"
                    self._send(401, b"{}", {"WWW-Authenticate":
                               f'Bearer realm="{realm}",service="test"'})  # fmt: skip
                    return False
                if registry.auth == "basic" and given != registry.basic:
                    self._send(401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
                    return False
                return True

            def _route(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                registry.requests.append((self.command, url.path))
                if url.path == "/token":
                    self._send(200, json.dumps({"token": registry.token}).encode())
                    return
                if not self._authorized():
                    return
                match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/(.+)", url.path)
                upload = re.fullmatch(r"/v2/(.+)/blobs/uploads/(.*)", url.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if upload and self.command == "POST":
                    uid = uuid.uuid4().hex
                    registry.uploads[uid] = upload.group(1)
                    self._send(
                        202, headers={"Location": f"/v2/{upload.group(1)}/blobs/uploads/{uid}"}
                    )
                elif upload and self.command == "PUT":
                    digest = urllib.parse.parse_qs(url.query).get("digest", [""])[0]
                    if upload.group(2) not in registry.uploads or digest_of(body) != digest:
                        self._send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                        return
                    registry.blobs[digest] = body
                    self._send(201, headers={"Docker-Content-Digest": digest})
                elif match and match.group(2) == "manifests":
                    repo, ref = match.group(1), match.group(3)
                    if self.command == "PUT":
                        media = self.headers.get("Content-Type", "")
                        registry.manifests[(repo, ref)] = (body, media)
                        registry.manifests[(repo, digest_of(body))] = (body, media)
                        self._send(201, headers={"Docker-Content-Digest": digest_of(body)})
                    elif (repo, ref) in registry.manifests:
                        data, media = registry.manifests[(repo, ref)]
                        self._send(200, data, {"Content-Type": media,
                                               "Docker-Content-Digest": digest_of(data)})  # fmt: skip
                    else:
                        self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                elif match and match.group(2) == "blobs":
                    digest = match.group(3)
                    if digest in registry.blobs:
                        self._send(200, registry.blobs[digest])
                    else:
                        self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                else:
                    self._send(404)

            do_GET = do_HEAD = do_PUT = do_POST = _route  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
