"""What makes a push fast stays correct: deterministic compression, the cache per compressor, the spliced parts.

UploadLayerPart's ``layerPartBlob`` is "The base64-encoded layer part payload", at most 20971520 bytes a part
(https://docs.aws.amazon.com/sdk-for-sap-abap/v1/api/latest/ecr/operation/UPLOADLAYERPART.html).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os

import pytest

from emulator.fidelity.ecr import split_part_body
from helpers import ecr, ecr_parts, images

REPO = "fargate-lab/parts"


class _Trickle(io.RawIOBase):
    """A stream that hands out at most ``step`` bytes a read, as a socket or a pipe may."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self.data, self.step, self.at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.step if n is None or n < 0 else min(n, self.step)
        piece = self.data[self.at:self.at + n]
        self.at += len(piece)
        return piece


def test_a_layer_compresses_to_the_same_digest_however_its_stream_reads(tmp_path):
    data = os.urandom(3 * images.COMPRESS_BLOCK + 12345) + b"text " * 200_000
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs = [images.compress_layer(images.Layer(diff_id, lambda step=step: _Trickle(data, step), compressed=False),
                                   tmp_path / f"{step}.gz") for step in (images.COMPRESS_BLOCK, 65536, 777_777)]
    assert len({(b.digest, b.size) for b in blobs}) == 1
    packed = images.gzip_bytes(data)
    assert blobs[0].digest == images.sha256_digest(packed) and blobs[0].size == len(packed)
    assert gzip.decompress(packed) == data
    assert packed[4:8] == b"\0\0\0\0"  # gzip header without a timestamp


def test_the_layer_cache_is_kept_per_compressor_and_level(tmp_path, monkeypatch):
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(tmp_path))
    images.LayerCache().put("sha256:" + "1" * 64, {"digest": "sha256:" + "2" * 64, "size": 5})
    assert images.LayerCache().get("sha256:" + "1" * 64) == {"digest": "sha256:" + "2" * 64, "size": 5}
    assert f"level{images.COMPRESS_LEVEL}" in images.COMPRESSOR and "isal" in images.COMPRESSOR
    monkeypatch.setattr(images, "COMPRESSOR", images.COMPRESSOR.replace(f"level{images.COMPRESS_LEVEL}", "level3"))
    assert images.LayerCache().get("sha256:" + "1" * 64) is None  # another level never reuses those digests


def test_a_spliced_part_is_the_body_botocore_would_send_and_ecr_keeps_its_bytes(session):
    ecr.ensure_repository(session, REPO)
    client = ecr_parts.enable(session.client("ecr"))
    bodies: list[bytes] = []
    client.meta.events.register("before-send.ecr.UploadLayerPart", lambda request, **_: bodies.append(request.body))
    part = os.urandom(1_000_003)
    upload = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    answer = ecr_parts.upload_part(client, REPO, upload, 0, part)
    assert answer["lastByteReceived"] == len(part) - 1
    digest = "sha256:" + hashlib.sha256(part).hexdigest()
    client.complete_layer_upload(repositoryName=REPO, uploadId=upload, layerDigests=[digest])  # ECR checks the digest

    other = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    client.upload_layer_part(repositoryName=REPO, uploadId=other, partFirstByte=0, partLastByte=len(part) - 1,
                             layerPartBlob=part)  # not through upload_part: botocore's own body
    spliced, plain = (json.loads(body) for body in bodies)
    assert {**spliced, "uploadId": other} == plain
    answer = client.batch_check_layer_availability(repositoryName=REPO, layerDigests=[digest])["layers"][0]
    assert (answer["layerAvailability"], answer["layerSize"]) == ("AVAILABLE", len(part))


def test_the_server_slices_the_blob_out_and_leaves_anything_escaped_to_moto():
    body = b'{"repositoryName": "a/b", "uploadId": "u", "partFirstByte": 0, "partLastByte": 4, "layerPartBlob": "aGVsbG8="}'
    params, blob = split_part_body(body)
    assert params == {"repositoryName": "a/b", "uploadId": "u", "partFirstByte": 0, "partLastByte": 4, "layerPartBlob": ""}
    assert bytes(blob) == b"aGVsbG8="
    compact = b'{"layerPartBlob":"aGVsbG8=","uploadId":"u"}'
    assert bytes(split_part_body(compact)[1]) == b"aGVsbG8="
    for escaped in (b'{"layerPartBlob": "aGVs\\/bG8=", "uploadId": "u"}', b'{"uploadId": "\\u0075", "layerPartBlob": "aA=="}',
                    b'{"uploadId": "u"}', b'["layerPartBlob": ""]'):
        with pytest.raises(ValueError):
            split_part_body(escaped)


def test_a_layer_compressed_as_it_streams_in_is_the_same_blob():
    data = os.urandom(2 * images.COMPRESS_BLOCK + 999) + b"text " * 300_000
    out = io.BytesIO()
    deflate = images.Deflate(out.write)
    at = 0
    for step in (10, images.COMPRESS_BLOCK, 65536, 3 * images.COMPRESS_BLOCK, 1):  # any cut, then the rest
        deflate.write(data[at:at + step])
        at += step
    deflate.write(data[at:])
    deflate.close()
    assert out.getvalue() == images.gzip_bytes(data)


def test_a_tag_moves_to_an_image_whose_blobs_were_all_there(session, tmp_path):
    """Nothing to upload is not nothing to do: the tag must then name the pushed image (PutImage), unless it did."""
    ecr.ensure_repository(session, REPO)
    old, new = (images.build(images.DEFAULT_APP_DIR, f"fargate-lab/parts:{v}", engine=False, echo=lambda _: None,
                             build_args={"APP_VERSION": v}) for v in ("v1", "v2"))
    first = ecr.push_image(session, old.source, REPO, "latest", progress=False)
    second = ecr.push_image(session, new.source, REPO, "v2", progress=False)
    moved = ecr.push_image(session, new.source, REPO, "latest", progress=False)
    assert moved.bytes_uploaded == 0 and moved.digest == second.digest != first.digest
    details = session.client("ecr").describe_images(repositoryName=REPO, imageIds=[{"imageTag": "latest"}])
    assert details["imageDetails"][0]["imageDigest"] == second.digest
    again = ecr.push_image(session, new.source, REPO, "latest", progress=False)
    assert (again.bytes_uploaded, again.digest) == (0, second.digest)
