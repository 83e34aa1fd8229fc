"""Container images without magic: build one, assemble one without a Docker engine, read one from anywhere.

An image is a *config* (JSON: entrypoint, environment, the ``diff_ids`` of its layers) and an ordered list of
*layers* (tar archives of files). A registry stores each as a blob named by its sha256 *digest*, and a
*manifest* lists the config's and the (compressed) layers' digests and sizes. This module gives
``helpers.ecr.push_image`` what it needs from any source:

- a local Docker image (``"name:tag"`` or an image id), read through the Docker SDK;
- a ``docker save`` archive, in either layout Docker writes: docker-archive (``manifest.json``) or OCI image
  layout (``index.json``, Docker 25+);
- an OCI image layout directory (what :func:`assemble` writes).

Layers are gzip-compressed deterministically (ISA-L's deflate at a fixed level, fed in fixed-size blocks, no
timestamp, no file name), so the same layer always has the same digest, and a cache maps each layer's ``diff_id``
to its compressed digest and size: a second push of the same image needs no compression at all.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import re
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import isal
from isal import isal_zlib

from helpers.errors import DockerUnavailable, ImageBuildFailed, ImageNotFound, InvalidImageArchive

BASE_IMAGE_ENV = "FARGATE_LAB_BASE_IMAGE"
DEFAULT_APP_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "app"
#: ISA-L level (0-3) of every layer this suite compresses: level 1 deflates about 9 times as fast as zlib's
#: default on this suite's machines, for a few percent more bytes. Changing it changes every digest (and re-uploads).
COMPRESS_LEVEL = 1
CHUNK = 1024 * 1024
#: ISA-L's output depends on how its input is cut, so a layer is always fed to it in blocks of exactly this size
COMPRESS_BLOCK = CHUNK
#: what a layer's compressed digest depends on: the layer cache is kept per value, so another compressor,
#: level or block size never reuses digests it did not make
COMPRESSOR = f"isal{isal.__version__}-level{COMPRESS_LEVEL}-block{COMPRESS_BLOCK}"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
GZIP_MAGIC = b"\x1f\x8b"


#: seconds a Docker API call may wait for the engine (builds, saves and pushes stream for long on a busy machine)
ENGINE_TIMEOUT = 600


def for_long_calls(client: Any) -> Any:
    """``client`` with a read timeout fit for builds, saves and pushes (an engine client's default is seconds)."""
    client.api.timeout = max(client.api.timeout or 0, ENGINE_TIMEOUT)
    return client


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- the layer cache: diff_id -> compressed digest and size ------------------------------------------------

def cache_dir() -> Path:
    """Where the suite keeps what it can recompute: the same folder as the embedded backend's state."""
    from helpers.local import state_dir

    return state_dir()


class LayerCache:
    """Remembers what compressing a layer gave, so that re-pushing an image compresses nothing."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / f"layer-digests-{COMPRESSOR}.json"

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self._load().get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            data = self._load()
            data[key] = value
            partial = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
            partial.write_text(json.dumps(data))
            partial.replace(self.path)


# --- one image, from whatever source ------------------------------------------------------------------------

@dataclass
class Layer:
    """One layer as the source holds it: compressed (with a known digest) or a plain tar (with its diff_id)."""

    diff_id: str | None
    open: Callable[[], IO[bytes]]
    compressed: bool
    digest: str | None = None  # the blob's digest, when the source holds it compressed
    size: int | None = None  # the blob's size in the source
    verified: bool = False  # the tar's sha256 was already checked against diff_id (no need to hash it again)
    #: the blob already compressed while the source streamed in (a local engine's image), None when it was not
    precompressed: Callable[[], Blob | None] | None = None


@dataclass
class SourceImage:
    """What a push needs from an image: its config, its layers, and where it came from (read on first use)."""

    description: str
    config_digest: str
    diff_ids: list[str]
    load_config: Callable[[], bytes]
    load_layers: Callable[[], list[Layer]]
    engine_image_id: str | None = None
    engine_client: Any = None  # the Docker client that read it (local engine images only)
    engine_tags: list[str] = field(default_factory=list)  # the names the engine already gives it
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    @cached_property
    def config(self) -> bytes:
        return self.load_config()

    @cached_property
    def layers(self) -> list[Layer]:
        return self.load_layers()

    def close(self) -> None:
        for cleanup in self._cleanup:
            cleanup()
        self._cleanup.clear()

    def __enter__(self) -> SourceImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(source: str | os.PathLike, client: Any | None = None) -> SourceImage:
    """The image ``source`` names: an OCI layout directory, a ``docker save`` archive, or a local Docker image."""
    path = Path(source)
    if path.is_dir():
        return _from_oci_dir(path)
    if path.is_file():
        return _from_archive(path)
    text = str(source)
    if os.sep in text and not text.startswith(("sha256:",)) and (text.startswith((".", "/")) or text.endswith(".tar")):
        raise ImageNotFound(f"{text!r} is neither an image archive nor a directory: no such file")
    return _from_engine(text, client)


# docker-archive and OCI layout archives -------------------------------------------------------------------

def _from_archive(path: Path) -> SourceImage:
    try:
        tar = tarfile.open(path, "r:")
        members = {m.name.lstrip("./") if m.name not in (".", "./") else m.name: m for m in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidImageArchive(f"{path} is not a readable tar archive, or it is truncated ({exc}); make one with: "
                                  "docker save IMAGE -o FILE.tar") from None
    total = path.stat().st_size
    end = max((m.offset_data + m.size for m in members.values() if m.isfile()), default=0)
    if end > total:
        tar.close()
        raise InvalidImageArchive(f"{path} is truncated: its last file ends at byte {end} but the file has {total} "
                                  "bytes. Save the image again (docker save IMAGE -o FILE.tar).")

    def member(name: str) -> tarfile.TarInfo:
        info = members.get(name.lstrip("./"))
        if info is None:
            raise InvalidImageArchive(f"{path} lacks {name!r}, which its index names: the archive is incomplete or truncated")
        while info.issym() or info.islnk():
            target = info.linkname if info.islnk() else os.path.normpath(os.path.join(os.path.dirname(info.name), info.linkname))
            info = members.get(target.lstrip("./"))
            if info is None:
                raise InvalidImageArchive(f"{path}: {name!r} links to a file the archive lacks")
        if info.offset_data + info.size > total:
            raise InvalidImageArchive(
                f"{path} is truncated: {name!r} needs {info.size} bytes at offset {info.offset_data} but the file "
                f"has {total} bytes. Save the image again (docker save IMAGE -o FILE.tar)."
            )
        return info

    def read(name: str) -> bytes:
        data = tar.extractfile(member(name))
        assert data is not None
        return data.read()

    def opener(name: str) -> Callable[[], IO[bytes]]:
        info = member(name)  # each reader opens the archive itself: layers are read in parallel
        return lambda: _FileSlice(path, info.offset_data, info.size)  # type: ignore[return-value]

    try:
        if "manifest.json" in members:
            image = _docker_archive(path, read, opener, member)
        elif "index.json" in members:
            image = _oci_layout(str(path), read, opener, lambda rel: member(rel).size)
        else:
            raise InvalidImageArchive(
                f"{path} is a tar archive but not an image: it has neither manifest.json (docker-archive) nor "
                "index.json (OCI image layout). Make one with: docker save IMAGE -o FILE.tar"
            )
    finally:
        tar.close()  # everything later reads through its own file handle
    return image


class _FileSlice(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of a file, with its own file handle."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._file = open(path, "rb")
        self._file.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(n)
        if len(data) < n:
            raise InvalidImageArchive("the archive ended inside a layer: it is truncated")
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


def _docker_archive(path: Path, read: Callable, opener: Callable, member: Callable) -> SourceImage:
    try:
        entries = json.loads(read("manifest.json"))
        entry = entries[0]
        config = read(entry["Config"])
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        names = list(entry["Layers"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidImageArchive(f"{path}: manifest.json or the image config is not valid ({exc})") from None
    if len(names) != len(diff_ids):
        raise InvalidImageArchive(f"{path}: manifest.json lists {len(names)} layers, the config {len(diff_ids)}")
    layers = []
    for name, diff_id in zip(names, diff_ids, strict=True):
        info = member(name)
        layers.append(Layer(diff_id=diff_id, open=opener(name), compressed=False, size=info.size))
    for layer in layers:  # some tools write compressed layers into docker-archives: push those as they are
        with layer.open() as stream:
            layer.compressed = stream.read(2) == GZIP_MAGIC
        if layer.compressed:
            layer.digest = _file_digest(layer.open)
    tags = ", ".join(entry.get("RepoTags") or []) or "untagged"
    return SourceImage(f"docker-archive {path.name} ({tags})", sha256_digest(config), diff_ids,
                       load_config=lambda: config, load_layers=lambda: layers)


def _oci_layout(where: str, read: Callable[[str], bytes], opener: Callable[[str], Callable[[], IO[bytes]]],
                size: Callable[[str], int]) -> SourceImage:
    def blob(digest: str) -> str:
        algorithm, _, hexdigest = digest.partition(":")
        return f"blobs/{algorithm}/{hexdigest}"

    try:
        manifest = json.loads(read("index.json"))
        for _ in range(4):  # an index may point at another index (docker save, containerd)
            if "layers" in manifest:
                break
            chosen = _choose_manifest(manifest.get("manifests") or [])
            manifest = json.loads(read(blob(chosen["digest"])))
        config = read(blob(manifest["config"]["digest"]))
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        descriptors = manifest["layers"]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidImageArchive(f"{where}: the OCI index, manifest or config is not valid ({exc})") from None
    if len(descriptors) != len(diff_ids):
        raise InvalidImageArchive(f"{where}: the manifest lists {len(descriptors)} layers, the config {len(diff_ids)}")
    layers = []
    for descriptor, diff_id in zip(descriptors, diff_ids, strict=True):
        name = blob(descriptor["digest"])
        actual = size(name)
        if actual != descriptor["size"]:
            raise InvalidImageArchive(f"{where}: {name} has {actual} bytes, the manifest says {descriptor['size']}")
        media_type = descriptor.get("mediaType", "")
        if "zstd" in media_type:
            raise InvalidImageArchive(f"{where}: layer {descriptor['digest'][:19]} is zstd-compressed; this suite "
                                      "pushes gzip or uncompressed layers (save the image with `docker save`)")
        compressed = "gzip" in media_type
        layers.append(Layer(diff_id=diff_id, open=opener(name), compressed=compressed,
                            digest=descriptor["digest"] if compressed else None, size=actual))
    return SourceImage(f"OCI image layout {where}", sha256_digest(config), diff_ids,
                       load_config=lambda: config, load_layers=lambda: layers)


def _choose_manifest(manifests: list[dict]) -> dict:
    """linux/amd64 when the index says, else the first image manifest (attestations skipped)."""
    usable = [m for m in manifests if m.get("mediaType") in (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST)
              and m.get("annotations", {}).get("vnd.docker.reference.type") != "attestation-manifest"]
    for candidate in usable:
        platform = candidate.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return candidate
    if not usable:
        raise KeyError("the index lists no image manifest")
    return usable[0]


def _from_oci_dir(path: Path) -> SourceImage:
    if not (path / "index.json").is_file():
        raise InvalidImageArchive(f"{path} is a directory but not an OCI image layout: it has no index.json")

    def safe(rel: str) -> Path:
        target = (path / rel).resolve()
        if path.resolve() not in target.parents:
            raise InvalidImageArchive(f"{path}: {rel!r} points outside the layout")
        if not target.is_file():
            raise InvalidImageArchive(f"{path} lacks {rel}, which its index names: the layout is incomplete")
        return target

    return _oci_layout(str(path), lambda rel: safe(rel).read_bytes(),
                       lambda rel: (lambda: open(safe(rel), "rb")), lambda rel: safe(rel).stat().st_size)


# a local Docker image --------------------------------------------------------------------------------------

def _from_engine(reference: str, client: Any | None) -> SourceImage:
    from helpers.engine import docker_client

    client = client or docker_client()
    if client is not None:
        for_long_calls(client)
    if client is None:
        raise DockerUnavailable(
            f"{reference!r} is not a file or directory, so it would be a local Docker image, but no Docker engine "
            "answers. Start Docker, or pass a `docker save` archive or an OCI layout directory."
        )
    import docker.errors

    try:
        attrs = client.api.inspect_image(reference)
    except docker.errors.ImageNotFound:
        raise ImageNotFound(
            f"the local Docker engine has no image {reference!r}; list images with `docker images`, or build one "
            "with helpers.images.build()"
        ) from None
    image_id = attrs["Id"]
    diff_ids = list(attrs.get("RootFS", {}).get("Layers") or [])
    temp = tempfile.TemporaryDirectory(prefix="fargate-lab-save-")
    save = _StreamingSave(client, image_id, [image_id, *diff_ids], Path(temp.name))
    layers = [Layer(diff_id=d, open=save.opener(d), compressed=False, verified=True,
                    precompressed=save.precompressed_getter(d)) for d in diff_ids]

    def cleanup() -> None:
        save.cancel()
        temp.cleanup()

    image = SourceImage(f"local Docker image {reference} ({image_id[:19]})", image_id, diff_ids,
                        load_config=lambda: save.path(image_id).read_bytes(), load_layers=lambda: layers,
                        engine_image_id=image_id, engine_client=client, engine_tags=list(attrs.get("RepoTags") or []))
    image._cleanup.append(cleanup)
    return image


class _StreamingSave:
    """``docker save`` of one image, streamed to files in the background; each blob is usable once it is in.

    Blobs are recognised by their sha256 (a layer's is its diff_id, the config's is the image id), so this
    reads either layout the engine writes. Each layer is also compressed while it arrives, in a thread of its
    own (:class:`_Precompress`), so that its blob is ready about when its last byte is: the engine's stream,
    not the compressor, sets the pace (Docker 20.10 names a layer ``ID/layer.tar``, so which layer it is, is
    known only once it is in: every layer of the save is compressed).
    """

    def __init__(self, client: Any, image_id: str, wanted: list[str], root: Path) -> None:
        self.client, self.image_id, self.root = client, image_id, root
        self.ready = {digest: threading.Event() for digest in wanted}
        self.paths: dict[str, Path] = {}
        self.error: BaseException | None = None
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancelled = False
        self.packed: dict[str, _Precompress] = {}

    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="docker-save", daemon=True)
                self._thread.start()

    def path(self, digest: str) -> Path:
        """The file holding ``digest``, once the save has written it."""
        self.start()
        self.ready[digest].wait()
        if digest not in self.paths:
            raise self.error or InvalidImageArchive(f"the engine's `docker save` of {self.image_id} lacks {digest}")
        return self.paths[digest]

    def opener(self, digest: str) -> Callable[[], IO[bytes]]:
        return lambda: open(self.path(digest), "rb")

    def precompressed_getter(self, digest: str) -> Callable[[], Blob | None]:
        def get() -> Blob | None:
            self.path(digest)
            packer = self.packed.get(digest)
            return packer.result() if packer else None

        return get

    def cancel(self) -> None:
        self._cancelled = True
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            stream = _ChunkStream(self.client.api.get_image(self.image_id, chunk_size=CHUNK))
            with tarfile.open(fileobj=io.BufferedReader(stream, CHUNK), mode="r|", bufsize=CHUNK) as tar:
                for number, member in enumerate(tar):
                    if self._cancelled:
                        return
                    if member.isfile():
                        self._keep(number, tar.extractfile(member), _is_layer(member))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for a blob
            self.error = exc
        finally:
            for event in self.ready.values():
                event.set()

    def _keep(self, number: int, source: IO[bytes] | None, layer: bool) -> None:
        if source is None:
            return
        path = self.root / str(number)
        digest = hashlib.sha256()
        packer = _Precompress(self.root / f"{number}.gz") if layer else None
        try:
            with open(path, "wb") as out:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    if packer:
                        packer.feed(chunk)
        finally:
            if packer:
                packer.end()
        name = "sha256:" + digest.hexdigest()
        if name in self.ready and name not in self.paths:
            if packer:
                self.packed[name] = packer
            self.paths[name] = path
            self.ready[name].set()
        else:
            path.unlink()  # manifest.json, index.json, legacy json: not needed
            if packer:
                packer.discard()


def _is_layer(member: tarfile.TarInfo) -> bool:
    """A layer tar in either layout (an OCI blob that small is a config or a manifest, or not worth a thread)."""
    return member.name.endswith("/layer.tar") or (member.name.startswith("blobs/") and member.size >= CHUNK)


class _Precompress:
    """One layer compressed in a thread of its own as its bytes arrive (bounded queue: a few MiB in flight)."""

    def __init__(self, into: Path) -> None:
        self.into = into
        self._chunks: queue.Queue = queue.Queue(maxsize=8)
        self._blob: Blob | None = None
        self._thread = threading.Thread(target=self._run, name=f"precompress-{into.stem}", daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        self._chunks.put(chunk)

    def end(self) -> None:
        self._chunks.put(None)

    def result(self) -> Blob | None:
        """The compressed blob once done; None when compressing failed (the caller compresses it itself)."""
        self._thread.join()
        return self._blob

    def discard(self) -> None:
        self._thread.join()
        self.into.unlink(missing_ok=True)

    def _run(self) -> None:
        packed = hashlib.sha256()
        size = 0
        failed = False
        try:
            out = open(self.into, "wb")
        except OSError:
            out, failed = None, True

        def emit(data: bytes) -> None:
            nonlocal size
            if data and out:
                packed.update(data)
                out.write(data)
                size += len(data)

        deflate = Deflate(emit)
        while (chunk := self._chunks.get()) is not None:
            if failed:
                continue  # keep draining, so that the save never blocks on a full queue
            try:
                deflate.write(chunk)
            except Exception:  # noqa: BLE001 - the layer is compressed again the usual way
                failed = True
        try:
            if not failed:
                deflate.close()
        except Exception:  # noqa: BLE001 - as above
            failed = True
        finally:
            if out:
                out.close()
        if not failed:
            into = self.into
            self._blob = Blob("sha256:" + packed.hexdigest(), size, lambda: open(into, "rb"))


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (the Docker SDK's ``get_image``), without copying."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not len(self._buffer):
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


# --- compression ---------------------------------------------------------------------------------------------

@dataclass
class Blob:
    """A compressed layer ready to upload: its digest, size, and a way to read it."""

    digest: str
    size: int
    open: Callable[[], IO[bytes]]


def compress_layer(layer: Layer, into: Path, progress: Callable[[int], None] | None = None,
                   sink: Callable[[bytes], None] | None = None) -> Blob:
    """The layer as a deterministic gzip blob, written to ``into``; checks the tar against its diff_id.

    ``sink`` gets each piece of compressed output as it is made, so that a caller can upload the blob while it is
    still being compressed (its digest is known only at the end).
    """
    if layer.compressed:
        return Blob(layer.digest or _file_digest(layer.open), layer.size or 0, layer.open)
    done = layer.precompressed() if layer.precompressed else None
    if done is not None:
        return done
    check = bool(layer.diff_id) and not layer.verified
    plain = hashlib.sha256()
    packed = hashlib.sha256()
    size = 0
    compressor = new_compressor()
    with layer.open() as source, open(into, "wb") as out:
        def emit(data: bytes) -> None:
            nonlocal size
            if data:
                packed.update(data)
                out.write(data)
                size += len(data)
                if sink:
                    sink(data)

        for block in _blocks(source):
            if check:
                plain.update(block)
            emit(compressor.compress(block))
            if progress:
                progress(len(block))
        emit(compressor.flush())
    actual = "sha256:" + plain.hexdigest()
    if check and actual != layer.diff_id:
        raise InvalidImageArchive(
            f"a layer's content ({actual[:19]}) does not match the image config's diff_id ({layer.diff_id[:19]}): "
            "the image is corrupt or truncated"
        )
    return Blob("sha256:" + packed.hexdigest(), size, lambda: open(into, "rb"))


def new_compressor() -> Any:
    """A gzip stream compressor as every layer gets it (wbits 31: a gzip header with mtime 0 and no file name)."""
    return isal_zlib.compressobj(COMPRESS_LEVEL, isal_zlib.DEFLATED, 31)


class Deflate:
    """A layer's deterministic gzip stream however its input is written: it reaches the compressor in blocks of
    exactly COMPRESS_BLOCK bytes, as :func:`compress_layer` feeds it, so both make the same bytes."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._compressor = new_compressor()
        self._pending = bytearray()
        self._emit = emit

    def write(self, data: bytes) -> None:
        if not self._pending and len(data) == COMPRESS_BLOCK:
            self._emit(self._compressor.compress(data))
            return
        self._pending += data
        while len(self._pending) >= COMPRESS_BLOCK:
            block = bytes(self._pending[:COMPRESS_BLOCK])
            del self._pending[:COMPRESS_BLOCK]
            self._emit(self._compressor.compress(block))

    def close(self) -> None:
        if self._pending:
            self._emit(self._compressor.compress(bytes(self._pending)))
        self._emit(self._compressor.flush())


def gzip_bytes(data: bytes) -> bytes:
    """``data`` compressed as :func:`compress_layer` would compress a layer holding it (same bytes, same digest)."""
    compressor = new_compressor()
    view = memoryview(data)
    out = [compressor.compress(view[i:i + COMPRESS_BLOCK]) for i in range(0, len(data), COMPRESS_BLOCK)]
    return b"".join(out) + compressor.flush()


def _blocks(source: IO[bytes]) -> Iterator[bytes]:
    """``source`` in blocks of exactly COMPRESS_BLOCK bytes (the last one shorter), however the stream reads."""
    while True:
        block = source.read(COMPRESS_BLOCK)
        if not block:
            return
        while len(block) < COMPRESS_BLOCK:
            more = source.read(COMPRESS_BLOCK - len(block))
            if not more:
                break
            block += more
        yield block


def _file_digest(opener: Callable[[], IO[bytes]]) -> str:
    digest = hashlib.sha256()
    with opener() as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --- building ------------------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    """What :func:`build` made: ``source`` is what ``push_image`` takes (an image name or an OCI directory)."""

    source: str
    method: str  # "docker" (built by the engine) or "assembled" (no engine: a minimal OCI image in Python)
    image_id: str
    layers: int
    log: list[str] = field(default_factory=list)


def base_image_for(base_image: str | None = None) -> str | None:
    """The base image to build from: the argument, else ``FARGATE_LAB_BASE_IMAGE``, else None (the Dockerfile's)."""
    return base_image or os.environ.get(BASE_IMAGE_ENV) or None


def build(app_dir: str | os.PathLike = DEFAULT_APP_DIR, tag: str = "fargate-lab/sample-app:latest", *,
          base_image: str | None = None, build_args: dict[str, str] | None = None, client: Any | None = None,
          engine: bool | None = None, echo: Callable[[str], None] = print) -> BuildResult:
    """Build ``app_dir`` with the Docker engine, streaming its log; without one, assemble a minimal OCI image.

    ``engine=False`` assembles even where an engine answers; ``engine=True`` fails without one.
    """
    app = Path(app_dir)
    if not (app / "Dockerfile").is_file():
        raise ImageBuildFailed(f"{app} has no Dockerfile; point app_dir at a directory with one (default: {DEFAULT_APP_DIR})")
    if engine is not False and client is None:
        from helpers.engine import docker_client

        client = docker_client()
    if client is None or engine is False:
        if engine:
            raise DockerUnavailable("engine=True but no Docker engine answers; start Docker or pass engine=None")
        return assemble(app, tag, echo=echo, build_args=build_args)
    args = dict(build_args or {})
    base = base_image_for(base_image)
    if base:
        args["BASE_IMAGE"] = base
    try:
        return _docker_build(client, app, tag, args, echo)
    except BaseImageUnreachable as exc:
        busybox = static_busybox()
        if busybox is None:
            raise
        echo(f"The Dockerfile's default base image could not be pulled ({exc.detail}). No registry is reachable "
             f"from here, so the base is built locally instead: FROM scratch plus this machine's static busybox "
             f"({busybox}). Set {BASE_IMAGE_ENV} to choose another base.")
        args["BASE_IMAGE"] = local_base_image(client, busybox)
        return _docker_build(client, app, tag, args, echo)


#: The base image built from a static busybox when no registry is reachable (tests and offline machines).
LOCAL_BASE_IMAGE = "fargate-lab/busybox:local"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")


def static_busybox(paths: tuple[str, ...] = BUSYBOX_PATHS) -> Path | None:
    """A statically linked busybox on this machine (Debian's busybox-static), or None.

    A dynamically linked one would not run in an image built FROM scratch, so its ELF
    program headers are read: a static binary has no PT_INTERP entry.
    """
    for candidate in map(Path, paths):
        if candidate.is_file() and _is_static_elf(candidate):
            return candidate
    return None


def _is_static_elf(path: Path) -> bool:
    import struct

    with open(path, "rb") as fh:
        header = fh.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            return False
        endian = "<" if header[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    return all(struct.unpack_from(endian + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def local_base_image(client: Any, busybox: str | os.PathLike | None = None, tag: str = LOCAL_BASE_IMAGE) -> str:
    """Build ``tag`` FROM scratch with a static busybox (its applets installed in /bin); no registry needed."""
    import tempfile

    source = Path(busybox) if busybox else static_busybox()
    if source is None:
        raise ImageBuildFailed("no static busybox on this machine to build a local base image from; "
                               "install Debian's busybox-static (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="busybox-base-") as tmp:
        context = Path(tmp)
        (context / "busybox").write_bytes(source.read_bytes())
        (context / "busybox").chmod(0o755)
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n'
        )
        client.images.build(path=str(context), tag=tag, rm=True)
    return tag


def _docker_build(client: Any, app: Path, tag: str, args: dict[str, str], echo: Callable[[str], None]) -> BuildResult:
    for_long_calls(client)
    lines: list[str] = []
    image_id = None
    echo(f"building {app} as {tag} with the Docker engine" + (f" (BASE_IMAGE={args['BASE_IMAGE']})" if "BASE_IMAGE" in args else ""))
    for chunk in client.api.build(path=str(app), tag=tag, buildargs=args, rm=True, forcerm=True, decode=True):
        if "error" in chunk:
            detail = (chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
            if "BASE_IMAGE" not in args and any(w in detail for w in ("pull", "manifest", "dial", "timeout", "resolve")):
                raise BaseImageUnreachable(
                    f"docker build of {app} failed: {detail}. The base image could not be pulled; where no registry "
                    f"is reachable, build a local base image and set {BASE_IMAGE_ENV}=<that image> (or pass "
                    f"base_image=...).", detail)
            raise ImageBuildFailed(f"docker build of {app} failed: {detail}.")
        text = chunk.get("stream", "")
        if text.strip():
            lines.append(text.rstrip("\n"))
            echo(text.rstrip("\n"))
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    attrs = client.api.inspect_image(tag)
    return BuildResult(source=tag, method="docker", image_id=image_id or attrs["Id"],
                       layers=len(attrs["RootFS"]["Layers"]), log=lines)


class BaseImageUnreachable(ImageBuildFailed):
    """The Dockerfile's default base image could not be pulled (no registry reachable)."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


# assembling without an engine ---------------------------------------------------------------------------------

def assemble(app_dir: str | os.PathLike, tag: str, out_dir: str | os.PathLike | None = None, *,
             echo: Callable[[str], None] = print, build_args: dict[str, str] | None = None) -> BuildResult:
    """A minimal OCI image in Python: one layer with the app's files under /app, a config with its entrypoint.

    It has no base image (no shell, no busybox): it shows what an image is made of and can be pushed, but a
    real container runtime could not run it. The embedded backend runs tasks without an engine in simulation.
    """
    app = Path(app_dir)
    out = Path(out_dir) if out_dir else cache_dir() / "assembled" / tag.replace("/", "_").replace(":", "_")
    entrypoint, env = _dockerfile_entrypoint_and_env(app / "Dockerfile", build_args or {})
    layer_tar = _deterministic_tar(app)
    diff_id = sha256_digest(layer_tar)
    layer_gz = gzip_bytes(layer_tar)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": env, "WorkingDir": "/app", "Labels": {"fargate-lab.assembled": "true"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"helpers.images.assemble({app.name})"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256_digest(layer_gz), "size": len(layer_gz)}],
    }, sort_keys=True).encode()
    if out.exists():
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    for blob in (config, layer_gz, manifest):
        (out / "blobs" / "sha256" / sha256_digest(blob).split(":")[1]).write_bytes(blob)
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    echo(
        f"No Docker engine answers, so nothing was built. Instead, a minimal OCI image was assembled in Python in "
        f"{out}: one layer with the files of {app} under /app, and a config whose entrypoint is {entrypoint}. "
        "It has no base image (no shell), so it can be pushed and inspected, but a real container runtime could "
        "not run it."
    )
    return BuildResult(source=str(out), method="assembled", image_id=sha256_digest(config), layers=1)


def _deterministic_tar(app: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [app, *sorted(p for p in app.rglob("*") if p.name != "Dockerfile")]:
            rel = path.relative_to(app)
            info = tar.gettarinfo(str(path), arcname=str(Path("app") / rel) if str(rel) != "." else "app")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) or path.suffix == ".sh" else 0o644
            if path.is_file():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _dockerfile_entrypoint_and_env(dockerfile: Path, build_args: dict[str, str]) -> tuple[list[str], list[str]]:
    """The Dockerfile's ENTRYPOINT and ENV, with ``${ARG}`` replaced by the build argument or the ARG's default."""
    entrypoint: list[str] = ["/app/entrypoint.sh"]
    env: list[str] = []
    args: dict[str, str] = {}
    for line in _dockerfile_instructions(dockerfile.read_text()):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "ARG":
            name, _, default = rest.strip().partition("=")
            args[name] = str(build_args.get(name, default))
        elif keyword.upper() == "ENV":
            rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest)
        if keyword.upper() == "ENTRYPOINT":
            try:
                entrypoint = json.loads(rest)
            except ValueError:
                entrypoint = ["/bin/sh", "-c", rest]
        elif keyword.upper() == "ENV":
            env += [pair for pair in rest.split() if "=" in pair]
    return entrypoint, env


def _dockerfile_instructions(text: str) -> Iterator[str]:
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        yield (current + line).strip()
        current = ""
