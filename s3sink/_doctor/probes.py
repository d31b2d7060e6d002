"""The doctor's probes, one step a method: each sends a correct and a wrong value and records
the store's verdict (the rules are in ``s3sink._doctor.probe``)."""

from __future__ import annotations

from .._store.checksums import Checksummer, encode, md5_digest
from .._store.hooks import signed_payload
from .._store.trailers import sending_trailer
from .session import (
    ALGORITHMS,
    CRC,
    MIB,
    SMALL,
    TRAILER,
    TRAILER_BODY,
    TRAILER_CHUNK,
    VERDICTS,
    WRONG_ETAG,
    Answer,
    ProbeFailed,
    Session,
    Verdict,
    check,
    is_md5,
    operation,
    refused,
    step,
)


class Probe(Session):
    """A session that runs the probe steps."""

    # -- steps --------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Check the bucket, then write the base object the conditional probes need."""
        answer = self.call("head_bucket")
        if not answer.ok:
            reasons = {404: "does not exist", 403: "is not accessible", 301: "is in another region"}
            what = reasons.get(answer.status or 0, "cannot be reached")
            raise ProbeFailed(f"bucket {self.bucket!r} {what}: {answer}") from answer.exc
        versioning = self.call("get_bucket_versioning")
        status = versioning.response.get("Status")
        self.versioned = status in ("Enabled", "Suspended")
        self.facts["bucket_versioning"] = status if versioning.ok else str(versioning)
        base = self.put("base", self.small)
        if not base.ok:
            raise ProbeFailed(f"cannot write below {self.root!r}: {base}") from base.exc
        self.etag = str(base.response["ETag"])
        self.facts["etag_is_md5"]["put_object"] = is_md5(self.etag, self.small)

    @step(
        "checksums",
        *(f"{r}.checksum.{a}" for r in ("put_object", "upload_part") for a in ALGORITHMS),
        "upload_part.checksum_echo",
    )
    def checksums(self) -> None:
        """Each algorithm, correct then wrong, with the SDK's algorithm header as boto3 sends
        it: on PutObject, and on UploadPart of an upload created with that algorithm."""
        for alg in ALGORITHMS:
            crc, header = Checksummer(alg), f"x-amz-checksum-{alg}"
            value, wrong = encode(crc.digest(self.small)), encode(crc.digest(b"wrong"))
            sdk = {"ChecksumAlgorithm": alg.upper()}
            good = self.put(alg, self.small, **sdk, **{crc.param: value})
            bad = self.put(alg, self.small, **sdk, **{crc.param: wrong})
            head = self.call("head_object", Key=self.root + alg, ChecksumMode="ENABLED")
            extra = ", echoed it" if bad.headers.get(header) == wrong else ""
            extra += ", stored it" if bad.ok and head.headers.get(header) == wrong else ""
            self.find(f"put_object.checksum.{alg}", check(good, bad, extra))
            if alg == "crc64nvme":
                self.facts["echoes"]["put_object"] = header in good.headers
                self.facts["echoes"]["put_object_wrong"] = header in bad.headers

            name = f"upload_part.checksum.{alg}"
            upload_id, created = self.create(f"part-{alg}", **sdk, ChecksumType=crc.checksum_type)
            if not created.ok:
                self.find(name, refused(created, "CreateMultipartUpload refused it"))
                continue
            good = self.part(upload_id, 1, self.small, **sdk, **{crc.param: value})
            bad = self.part(upload_id, 2, self.small, **sdk, **{crc.param: wrong})
            echoed = bad.headers.get(header) == wrong
            self.find(name, check(good, bad, ", echoed it" if echoed else ""))
            if alg == "crc64nvme":
                self.echoes(upload_id, good, echoed, crc.param, value)

    def echoes(self, upload_id: str, good: Answer, echoed: bool, param: str, value: str) -> None:
        """Who echoes a part checksum: some stores only with x-amz-sdk-checksum-algorithm
        (which s3sink does not send), some even a wrong one."""
        plain = self.part(upload_id, 3, self.small, **{param: value})
        plain_bad = self.part(upload_id, 4, self.small, **{param: encode(bytes(8))})
        echoes = self.facts["echoes"]
        echoes["upload_part"] = good.headers.get(CRC) == value
        echoes["upload_part_wrong"] = echoed
        echoes["upload_part_without_sdk_header"] = plain.headers.get(CRC) == value
        echoes["upload_part_wrong_without_sdk_header"] = CRC in plain_bad.headers
        self.facts["etag_is_md5"]["upload_part"] = is_md5(good.response.get("ETag"), self.small)
        also = "also" if echoes["upload_part_without_sdk_header"] else "but not"
        verdict: tuple[Verdict, str] = ("unsupported", f"no {CRC} in the UploadPart response")
        if not good.ok:
            verdict = ("error", f"UploadPart failed: {good}")
        elif echoes["upload_part"]:
            verdict = ("supported", f"echoed {CRC} ({also} without x-amz-sdk-checksum-algorithm)")
        self.find("upload_part.checksum_echo", verdict)

    @step("trailing checksum", TRAILER)
    def trailer(self) -> None:
        """An UploadPart whose CRC64NVME comes in an aws-chunked trailer (several chunks, the
        last one short), then the same bytes with a wrong trailer: only a refused wrong one
        lets s3sink stream parts with trailers here."""
        name = TRAILER
        sdk = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}
        upload_id, created = self.create("part-trailer", **sdk)
        if not created.ok:
            self.find(name, refused(created, "CreateMultipartUpload refused it"))
            return
        body, answers, values = self.data[:TRAILER_BODY], [], []
        for number, wrong in ((1, False), (2, True)):
            with sending_trailer(self.client, chunk_size=TRAILER_CHUNK, wrong=wrong) as sent:
                answers.append(self.part(upload_id, number, body))
            values.append(sent.value)
        good, bad = answers
        facts: dict[str, str | bool | None] = {"correct": str(good), "wrong": str(bad)}
        facts["echoed"] = good.headers.get(CRC) == values[0]
        facts["echoed_wrong"] = bad.headers.get(CRC) == values[1]
        facts["etag_is_md5"] = is_md5(good.response.get("ETag"), body) if good.ok else None
        self.facts["trailer"] = facts
        verdict = check(good, bad, ", echoed it" if facts["echoed_wrong"] else "")
        if good.code == "XAmzContentSHA256Mismatch":  # Ceph RGW 16.2: the form is unknown
            verdict = ("unsupported", f"refused a correct trailer: {good}")
        if good.ok and not facts["etag_is_md5"] and self.facts["etag_is_md5"]["put_object"]:
            # The store took the framing for data (its ETags are MD5s elsewhere).
            verdict = ("error", f"the part's ETag is not the MD5 of its bytes; {verdict[1]}")
        echo = "echoed" if facts["echoed"] else "did not echo"
        also = f"; correct trailer: {good}, {echo} it" if good.ok else ""
        self.find(name, (verdict[0], verdict[1] + also))

    @step("Content-MD5, abort", "content_md5", "abort_multipart_upload")
    def content_md5_and_abort(self) -> None:
        """Content-MD5 on PutObject and UploadPart; then abort that upload and look again."""
        good, bad = encode(md5_digest(self.small)), encode(md5_digest(b"wrong"))
        put = check(
            self.put("md5", self.small, ContentMD5=good),
            self.put("md5", self.small, ContentMD5=bad),
        )
        upload_id, _ = self.upload("md5-part", [])
        part = check(
            self.part(upload_id, 1, self.small, ContentMD5=good),
            self.part(upload_id, 2, self.small, ContentMD5=bad),
        )
        worst = max(put[0], part[0], key=VERDICTS.index)
        self.find("content_md5", (worst, f"PutObject: {put[1]}; UploadPart: {part[1]}"))
        key = self.uploads[upload_id]
        aborted = self.call("abort_multipart_upload", Key=key, UploadId=upload_id)
        if aborted.ok:
            del self.uploads[upload_id]  # else the cleanup tries again
        after = self.call("list_parts", Key=key, UploadId=upload_id)
        listed = self.call("list_multipart_uploads", Prefix=self.root)
        ids = {u.get("UploadId") for u in listed.response.get("Uploads", [])}
        self.facts["list_parts_after_abort"] = str(after)
        works = not after.ok and upload_id not in ids
        self.find("abort_multipart_upload", operation(aborted, works, f"ListParts: {after}"))

    @step("SigV4 payload hash", "sigv4_payload_hash")
    def sigv4_payload_hash(self) -> None:
        """A signed payload, then one whose body is changed after signing (same length)."""
        good, bad = self._signed_put("sigv4-good"), self._signed_put("sigv4-bad")
        self.find("sigv4_payload_hash", check(good, bad))

    def _signed_put(self, name: str) -> Answer:
        corrupt = name.endswith("bad")
        with signed_payload(self.client, f"{self.marker}/{name}", corrupt=corrupt) as sent:
            answer = self.put(name, self.small)
        if sent.get("hash", "UNSIGNED-PAYLOAD") == "UNSIGNED-PAYLOAD":
            return Answer(exc=RuntimeError("botocore sent no payload hash"))
        return answer

    @step("Complete: checksum, size", "complete.full_object_checksum", "complete.mpu_object_size")
    def complete_checks(self) -> None:
        """A wrong MpuObjectSize, a wrong FULL_OBJECT checksum; then the right one, same upload."""
        upload_id, parts = self.upload("size", [self.small])
        bad = self.complete(upload_id, parts, MpuObjectSize=SMALL + 1)
        good = None if bad.ok else self.complete(upload_id, parts, MpuObjectSize=SMALL)
        self.find("complete.mpu_object_size", check(good, bad))

        name, full = "complete.full_object_checksum", {"ChecksumType": "FULL_OBJECT"}
        upload_id, created = self.create("full", ChecksumAlgorithm="CRC64NVME", **full)
        if not created.ok:
            self.find(name, refused(created, "CreateMultipartUpload refused it"))
            return
        crc = Checksummer("crc64nvme")
        value, wrong = encode(crc.digest(self.small)), encode(crc.digest(b"wrong"))
        part = self.part(upload_id, 1, self.small, ChecksumCRC64NVME=value)
        parts = [{"PartNumber": 1, "ETag": part.response.get("ETag"), "ChecksumCRC64NVME": value}]
        bad = self.complete(upload_id, parts, **full, ChecksumCRC64NVME=wrong)
        good = None if bad.ok else self.complete(upload_id, parts, **full, ChecksumCRC64NVME=value)
        head = self.call("head_object", Key=self.root + "full", ChecksumMode="ENABLED")
        self.facts["echoes"]["complete"] = CRC in (good or bad).headers
        stored = ", stored it" if bad.ok and head.headers.get(CRC) == wrong else ""
        self.find(name, check(good, bad, stored))

    @step("conditional PutObject", "put_object.if_none_match", "put_object.if_match")
    def put_conditionals(self) -> None:
        """If-None-Match and If-Match on PutObject, against the base object (same bytes)."""
        new = self.put("put-new", self.small, IfNoneMatch="*")
        bad = self.put("base", self.small, IfNoneMatch="*")
        self.find("put_object.if_none_match", check(new, bad))
        bad = self.put("base", self.small, IfMatch=WRONG_ETAG)
        quoted = self.put("base", self.small, IfMatch=self.etag)
        unquoted = self.put("base", self.small, IfMatch=self.etag.strip('"'))
        forms = {"quoted": quoted.ok, "unquoted": unquoted.ok}
        self.facts["if_match_forms"] = {"put_object": forms}
        self.find("put_object.if_match", check(quoted if quoted.ok else unquoted, bad))

    @step("conditional Complete", "complete.if_none_match", "complete.if_match")
    def complete_conditionals(self) -> None:
        """If-None-Match and If-Match on CompleteMultipartUpload, against the base object."""
        new = self.complete(*self.upload("complete-new", [self.small]), IfNoneMatch="*")
        bad = self.complete(*self.upload("base", [self.small]), IfNoneMatch="*")
        self.etag = str(bad.response.get("ETag", self.etag))  # if it replaced the base object
        self.find("complete.if_none_match", check(new, bad))

        upload_id, parts = self.upload("base", [self.small])
        bad = self.complete(upload_id, parts, IfMatch=WRONG_ETAG)
        forms: dict[str, bool | None] = {"quoted": None, "unquoted": None}  # None: not probed
        good = None
        for form, etag in (("quoted", self.etag), ("unquoted", self.etag.strip('"'))):
            if bad.ok or (good is not None and good.ok):
                break
            good = self.complete(upload_id, parts, IfMatch=etag)
            forms[form] = good.ok
        self.facts.setdefault("if_match_forms", {})["complete"] = forms
        self.find("complete.if_match", check(good, bad))

    @step(
        "part sizes, listings",
        "list_multipart_uploads",
        "list_parts",
        "unequal_part_sizes",
        "min_part_size",
    )
    def part_sizes(self) -> None:
        """Parts of 5 MiB, 6 MiB and a tail (listed, then completed); a short non-last part."""
        bodies = [self.data[: 5 * MIB], self.data, self.small]
        upload_id, parts = self.upload("unequal", bodies)
        listed = self.call("list_multipart_uploads", Prefix=self.root)
        ids = {u.get("UploadId") for u in listed.response.get("Uploads", [])}
        self.find("list_multipart_uploads", operation(listed, upload_id in ids, "not listed"))
        answer = self.call("list_parts", Key=self.uploads[upload_id], UploadId=upload_id)
        sizes = [p.get("Size") for p in answer.response.get("Parts", [])]
        works = sizes == [len(b) for b in bodies]
        self.find("list_parts", operation(answer, works, f"it lists sizes {sizes}"))
        md5s = self.facts["etag_is_md5"]
        md5s["upload_part"] = md5s.get("upload_part", True) and all(
            is_md5(p["ETag"], b) for p, b in zip(parts, bodies, strict=True)
        )
        done = self.complete(upload_id, parts)
        verdict: Verdict = "supported" if done.ok else "unsupported" if done.refused else "error"
        self.find("unequal_part_sizes", (verdict, str(done)))

        short = 5 * MIB - 1
        done = self.complete(*self.upload("short", [self.data[:short], self.small]))
        enforced = done.code == "EntityTooSmall"
        self.facts["min_part_size"] = 5 * MIB if enforced else None
        self.facts["min_part_size_probe"] = f"non-last part of {short} bytes: {done}"
        verdict = "validated" if enforced else "ignored" if done.ok else "error"
        self.find("min_part_size", (verdict, str(done)))

    @step("ETags", "etag_md5")
    def etags(self) -> None:
        """Whether part ETags (and PutObject's) are the MD5 of the bytes sent."""
        part, put = (self.facts["etag_is_md5"].get(k) for k in ("upload_part", "put_object"))
        verdict: Verdict = "supported" if part else "unsupported" if part is False else "error"
        text = f"part ETags {'are' if part else 'are not'} the MD5 of their bytes"
        self.find("etag_md5", (verdict, f"{text}, PutObject's {'is' if put else 'is not'}"))
