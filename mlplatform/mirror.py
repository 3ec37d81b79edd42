"""Every container image and Helm chart a plan needs, for mirroring into an air-gapped registry.

Read from the plan itself (not from a hand-kept list), so it cannot drift from what the
program deploys: ``image`` fields anywhere in Kubernetes objects (pod specs, KServe
ServingRuntimes, CRDs), Helm releases' chart, version and repository, and the images
set in Helm values (``image: {registry, repository, tag}`` or ``image: "<ref>"``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, order=True)
class Artifact:
    """One thing to mirror."""

    kind: str  # "image" or "chart"
    ref: str
    used_by: str


def _image_from_values(node: dict[str, Any]) -> str | None:
    repo = node.get("repository")
    if not isinstance(repo, str):
        return None
    registry = node.get("registry")
    ref = f"{registry}/{repo}" if isinstance(registry, str) and registry else repo
    digest = node.get("digest")
    tag = node.get("tag")
    if isinstance(digest, str) and digest:
        return f"{ref}@{digest}"
    if isinstance(tag, (str, int, float)) and str(tag):
        return f"{ref}:{tag}"
    return ref


def _walk(node: Any, used_by: str, found: set[Artifact], in_values: bool) -> None:
    if isinstance(node, dict):
        tag = node.get("tag")
        if in_values and isinstance(node.get("image"), str) and isinstance(tag, (str, int, float)):
            # Charts such as KServe's write {image: "<repo>", tag: "<version>"}.
            found.add(Artifact("image", f"{node['image']}:{tag}", used_by))
            node = {key: value for key, value in node.items() if key not in ("image", "tag")}
        for key, value in node.items():
            if (key == "image" and isinstance(value, str) and value and value != "[secret]") or (
                in_values and key.endswith("Image") and isinstance(value, str) and ":" in value
            ):
                found.add(Artifact("image", value, used_by))
            elif key == "image" and isinstance(value, dict) and in_values:
                ref = _image_from_values(value)
                if ref:
                    found.add(Artifact("image", ref, used_by))
            else:
                _walk(value, used_by, found, in_values)
    elif isinstance(node, list):
        for item in node:
            _walk(item, used_by, found, in_values)


def artifacts_from_plan(plan: dict[str, Any]) -> list[Artifact]:
    """Images and charts referenced by the plan's resources, sorted and de-duplicated."""
    found: set[Artifact] = set()
    for resource in plan["resources"]:
        type_ = resource["type"]
        if not type_.startswith("kubernetes:") or type_.startswith("pulumi:providers:"):
            continue
        inputs = resource.get("inputs") or {}
        if type_.startswith("kubernetes:helm.sh/"):
            chart = inputs.get("chart", "")
            repo = (inputs.get("repositoryOpts") or {}).get("repo", "")
            version = inputs.get("version", "")
            ref = (
                chart
                if "://" in str(chart)
                else f"{str(repo).rstrip('/')}/{chart}"
                if repo
                else str(chart)
            )
            found.add(Artifact("chart", f"{ref}:{version}" if version else ref, resource["name"]))
            _walk(inputs.get("values") or {}, resource["name"], found, in_values=True)
        else:
            _walk(inputs, resource["name"], found, in_values=False)
    return sorted(found)


def render(artifacts: list[Artifact], fmt: str) -> str:
    """Text (one ref per line, images then charts) or JSON."""
    if fmt == "json":
        grouped: dict[str, dict[str, list[str]]] = {"images": {}, "charts": {}}
        for artifact in artifacts:
            group = grouped["images" if artifact.kind == "image" else "charts"]
            group.setdefault(artifact.ref, []).append(artifact.used_by)
        return json.dumps(
            {
                group_name: [
                    {"ref": ref, "used_by": sorted(set(users))}
                    for ref, users in sorted(group.items())
                ]
                for group_name, group in grouped.items()
            },
            indent=2,
        )
    images = sorted({artifact.ref for artifact in artifacts if artifact.kind == "image"})
    charts = sorted({artifact.ref for artifact in artifacts if artifact.kind == "chart"})
    lines = [f"# {len(images)} images", *images, f"# {len(charts)} charts", *charts]
    return "\n".join(lines)


# -- copying images and the digest lock --------------------------------------------------------
#
# ``mlplatform mirror --copy`` copies every upstream image of the plan into the in-region
# registry over the OCI distribution API (manifests, multi-arch indexes and blobs, byte for
# byte, so the digest is the upstream one) and writes the digests to the lock file. The
# program reads the same file and references ``image:tag@sha256:<digest>`` wherever the
# lock has one. The lock is plain JSON both sides read (the engine never imports the
# blueprint's components):
#
#     {"version": 1,
#      "images": {"<repository path in the mirror>:<tag>":
#                   {"digest": "sha256:<64 hex>", "source": "<upstream ref or 'built'>"}}}
#
# Keys leave out the registry host, so one lock serves every stack whose registry uses the
# same layout (each account's ECR, the on-prem registry).

LOCK_VERSION = 1
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


class MirrorError(RuntimeError):
    """A copy, a registry or the lock file failed; the message is one line."""


@dataclass(frozen=True)
class ImageRef:
    """``host/repository:tag`` (optionally ``@sha256:...``)."""

    host: str
    repository: str
    tag: str
    digest: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        """Parse a reference that names its registry host; one-line error otherwise."""
        name, _, digest = ref.partition("@")
        host, sep, rest = name.partition("/")
        if not sep or not ("." in host or ":" in host or host == "localhost"):
            raise MirrorError(f"image {ref!r}: must name its registry host")
        repository, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:
            if not digest:
                raise MirrorError(f"image {ref!r}: must carry an exact tag or a digest")
            repository, tag = rest, ""
        if digest and not _SHA256.match(digest):
            raise MirrorError(f"image {ref!r}: digest must be sha256:<64 hex>")
        return cls(host, repository, tag, digest or None)

    @property
    def lock_key(self) -> str:
        """``<repository>:<tag>``: the lock's key (no host)."""
        return f"{self.repository}:{self.tag}"

    def __str__(self) -> str:
        base = f"{self.host}/{self.repository}" + (f":{self.tag}" if self.tag else "")
        return f"{base}@{self.digest}" if self.digest else base

    def upstream(self) -> ImageRef | None:
        """The upstream image a mirror path embeds (``<prefix>/<upstream host>/<repo>``), or
        None for the platform's own images (built, not copied)."""
        parts = self.repository.split("/")
        for index, part in enumerate(parts[:-1]):
            if "." in part or ":" in part or part == "localhost":
                return ImageRef(part, "/".join(parts[index + 1 :]), self.tag, self.digest)
        return None


Credentials = dict[str, tuple[str, str]]
"""Registry host -> (user, password), e.g. ECR's ``AWS`` and ``get-login-password``."""


def load_credentials(path: Path) -> Credentials:
    """A Docker ``config.json``-style file: ``{"auths": {host: {"auth": base64(user:pw)}}}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        out: Credentials = {}
        for host, entry in (raw.get("auths") or {}).items():
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            out[host] = (user, password)
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MirrorError(f"{path}: not a registry credentials file ({exc})") from None


class RegistryClient:
    """The parts of the OCI distribution API a copy needs, with Basic and anonymous-Bearer
    (token service) authentication. ``plain_http`` hosts are spoken to without TLS."""

    def __init__(
        self, credentials: Credentials | None = None, plain_http: Sequence[str] = ()
    ) -> None:
        self.credentials = credentials or {}
        self.plain_http = set(plain_http)
        self._tokens: dict[tuple[str, str], str] = {}

    def _url(self, host: str, path: str) -> str:
        scheme = "http" if host in self.plain_http else "https"
        return f"{scheme}://{host}/v2/{path}"

    def _auth_header(self, host: str, repository: str) -> dict[str, str]:
        token = self._tokens.get((host, repository))
        if token:
            return {"Authorization": f"Bearer {token}"}
        if host in self.credentials:
            user, password = self.credentials[host]
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}

    def _token(self, host: str, repository: str, challenge: str) -> None:
        """Fetch a Bearer token from the realm a 401 names (anonymous or with credentials)."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise MirrorError(f"{host}: unusable authentication challenge {challenge!r}")
        params.setdefault("scope", f"repository:{repository}:pull,push")
        # The realm's scheme was checked above: http(s) only.
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")  # noqa: S310
        if host in self.credentials:
            user, password = self.credentials[host]
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise MirrorError(f"{host}: token request failed: {exc}") from None
        self._tokens[(host, repository)] = str(body.get("token") or body.get("access_token"))

    def request(
        self,
        method: str,
        host: str,
        repository: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
        ok: Sequence[int] = (200,),
    ) -> tuple[int, dict[str, str], bytes]:
        """One call (retried once after an authentication challenge)."""
        target = url or self._url(host, path)
        if not target.startswith(("https://", "http://")):
            raise MirrorError(f"{host}: refusing non-HTTP URL {target!r}")
        for attempt in range(2):
            request = urllib.request.Request(target, data=body, method=method)  # noqa: S310
            for key, value in {**(headers or {}), **self._auth_header(host, repository)}.items():
                request.add_header(key, value)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    status, reply_headers, data = response.status, dict(response.headers), b""
                    if method != "HEAD":
                        data = response.read()
            except urllib.error.HTTPError as exc:
                status, reply_headers, data = exc.code, dict(exc.headers), exc.read()
                challenge = reply_headers.get("WWW-Authenticate", "")
                if status == 401 and attempt == 0 and challenge.lower().startswith("bearer"):
                    self._token(host, repository, challenge)
                    continue
            except OSError as exc:
                raise MirrorError(f"{host}/{repository}: {method} failed: {exc}") from None
            if status not in ok:
                detail = data[:200].decode(errors="replace").strip()
                raise MirrorError(
                    f"{host}/{repository}: {method} {path or url} answered {status} {detail}"
                )
            return status, reply_headers, data
        raise MirrorError(f"{host}/{repository}: authentication failed")

    def manifest(self, host: str, repository: str, reference: str) -> tuple[bytes, str]:
        """(bytes, media type); the bytes' SHA-256 is checked against a digest reference."""
        _, headers, data = self.request(
            "GET",
            host,
            repository,
            f"{repository}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        media_type = headers.get("Content-Type", "").split(";")[0]
        if reference.startswith("sha256:") and _digest(data) != reference:
            raise MirrorError(
                f"{host}/{repository}@{reference}: manifest does not match its digest"
            )
        return data, media_type

    def has(self, host: str, repository: str, kind: str, reference: str) -> bool:
        """HEAD a blob or manifest."""
        status, _, _ = self.request(
            "HEAD",
            host,
            repository,
            f"{repository}/{kind}/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200, 404),
        )
        return status == 200

    def head_digest(self, host: str, repository: str, tag: str) -> str | None:
        """The digest a tag points at in a registry (None when absent)."""
        status, headers, _ = self.request(
            "HEAD",
            host,
            repository,
            f"{repository}/manifests/{tag}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200, 404),
        )
        digest = headers.get("Docker-Content-Digest")
        if status == 404:
            return None
        if not digest or not _SHA256.match(digest):
            data, _ = self.manifest(host, repository, tag)
            return _digest(data)
        return digest


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def copy_image(client: RegistryClient, source: ImageRef, target: ImageRef) -> str:
    """Copy ``source`` (every platform of an index) to ``target`` byte for byte; return the
    digest ``target`` now points at (the upstream manifest's own digest)."""
    digest = _copy_manifest(client, source, target, source.digest or source.tag)
    if not target.tag:
        return digest  # referenced by digest: nothing can move it
    if client.head_digest(target.host, target.repository, target.tag) != digest:
        raise MirrorError(f"{target}: registry reports another digest than {digest}")
    return digest


def _copy_manifest(client: RegistryClient, source: ImageRef, target: ImageRef, ref: str) -> str:
    data, media_type = client.manifest(source.host, source.repository, ref)
    digest = _digest(data)
    try:
        manifest = json.loads(data)
    except ValueError:
        raise MirrorError(f"{source}: manifest is not JSON") from None
    media_type = media_type or str(manifest.get("mediaType", ""))
    if media_type not in MANIFEST_TYPES:
        raise MirrorError(f"{source}: unsupported manifest type {media_type!r}")
    if media_type in INDEX_TYPES:
        for child in manifest.get("manifests", []):
            _copy_manifest(client, source, target, str(child["digest"]))
    else:
        blobs = [manifest.get("config", {}), *manifest.get("layers", [])]
        for blob in blobs:
            _copy_blob(client, source, target, str(blob["digest"]))
    # Children by digest, the top level by its tag (and so by digest too).
    top = ref in (source.tag, source.digest)
    reference = target.tag if top and target.tag else digest
    client.request(
        "PUT",
        target.host,
        target.repository,
        f"{target.repository}/manifests/{reference}",
        body=data,
        headers={"Content-Type": media_type},
        ok=(200, 201),
    )
    return digest


def _copy_blob(client: RegistryClient, source: ImageRef, target: ImageRef, digest: str) -> None:
    if not _SHA256.match(digest):
        raise MirrorError(f"{source}: blob digest {digest!r} is not sha256")
    if client.has(target.host, target.repository, "blobs", digest):
        return
    _, _, data = client.request(
        "GET", source.host, source.repository, f"{source.repository}/blobs/{digest}"
    )
    if _digest(data) != digest:
        raise MirrorError(f"{source}: blob {digest} does not match its digest")
    _, headers, _ = client.request(
        "POST",
        target.host,
        target.repository,
        f"{target.repository}/blobs/uploads/",
        body=b"",
        ok=(202,),
    )
    location = headers.get("Location", "")
    if not location:
        raise MirrorError(f"{target.host}: upload started without a Location")
    if location.startswith("/"):
        scheme = "http" if target.host in client.plain_http else "https"
        location = f"{scheme}://{target.host}{location}"
    separator = "&" if "?" in location else "?"
    client.request(
        "PUT",
        target.host,
        target.repository,
        "",
        url=f"{location}{separator}digest={urllib.parse.quote(digest)}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
        ok=(201,),
    )


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    """The lock's ``images`` (empty when the file does not exist); one-line errors."""
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MirrorError(f"{path}: not a JSON image lock ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != LOCK_VERSION:
        raise MirrorError(f"{path}: version: expected {LOCK_VERSION}")
    images = raw.get("images")
    if not isinstance(images, dict):
        raise MirrorError(f"{path}: images: expected an object")
    for key, entry in images.items():
        if not isinstance(entry, dict) or not _SHA256.match(str(entry.get("digest", ""))):
            raise MirrorError(f"{path}: images.{key}.digest: expected sha256:<64 hex>")
    return images


def write_lock(path: Path, entries: dict[str, dict[str, str]]) -> None:
    """Merge ``entries`` into the lock (sorted, stable diff)."""
    images = {**read_lock(path), **entries}
    body = {
        "version": LOCK_VERSION,
        "comment": "Digests of the images in the in-region registry, written by "
        "`mlplatform mirror --copy`; keys are '<repository>:<tag>' without the host.",
        "images": dict(sorted(images.items())),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class CopyOutcome:
    """What happened to one image."""

    image: str
    digest: str | None
    note: str


def mirror_images(images: Sequence[str], client: RegistryClient, lock: Path) -> list[CopyOutcome]:
    """Copy every upstream image into the mirror it is planned from; resolve the platform's
    own (built) images there; write what has a digest to the lock."""
    outcomes: list[CopyOutcome] = []
    entries: dict[str, dict[str, str]] = {}
    for text in sorted(set(images)):
        try:
            target = ImageRef.parse(text)
            upstream = target.upstream()
            if upstream is not None:
                digest = copy_image(client, upstream, target)
                source, note = str(upstream), f"copied from {upstream}"
            else:
                found = client.head_digest(target.host, target.repository, target.tag)
                if found is None:
                    outcomes.append(
                        CopyOutcome(text, None, "not in the registry: build and push it")
                    )
                    continue
                digest, source, note = found, "built", "built image, digest read"
        except MirrorError as exc:
            outcomes.append(CopyOutcome(text, None, str(exc)))
            continue
        if target.digest and target.digest != digest:
            outcomes.append(CopyOutcome(text, digest, f"planned digest {target.digest} differs"))
            continue
        if target.tag:  # a digest-only reference needs no lock entry
            entries[target.lock_key] = {"digest": digest, "source": source}
        outcomes.append(CopyOutcome(text, digest, note))
    write_lock(lock, entries)
    return outcomes
