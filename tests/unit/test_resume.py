"""Resumable uploads on the fake store: keep instead of abort, the journal, and resume
(skip the parts the store holds with this run's bytes, re-send the others)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from s3sink import State, UsageError
from s3sink._upload.journal import ResumeCommand, find_journals, read_journal
from tests.support.fakes import BUCKET, KEY, PART, FakeS3, make_writer, payload


@pytest.fixture
def fake() -> FakeS3:
    """A fresh in-memory S3."""
    return FakeS3()


class Boom(Exception):
    """The producer's failure."""


def fail_after(fake: FakeS3, data: bytes, journal: Path, **options: object) -> str:
    """A resumable run that writes ``data`` and then fails: returns the kept upload's id."""
    w = make_writer(fake, resumable=True, journal_dir=journal, concurrency=2, **options)
    with pytest.raises(Boom), w:
        w.write(data)
        raise Boom
    assert w.state is State.KEPT
    assert w.upload_id is not None
    return w.upload_id


def test_a_resumable_failure_keeps_the_upload_and_journals_its_parts(
    fake: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = payload(3 * PART + 100)
    upload_id = fail_after(fake, data, tmp_path)
    assert fake.live_uploads() == [upload_id]
    assert fake.stored_parts(upload_id) == [1, 2, 3]  # the tail was never sent
    assert fake.count("abort_multipart_upload") == 0
    (record,) = find_journals(tmp_path, endpoint=fake.endpoint, bucket=BUCKET, key=KEY)
    assert record.upload_id == upload_id
    assert sorted(record.parts) == [1, 2, 3]
    assert all(p.size == PART and p.checksum for p in record.parts.values())
    assert f"upload {upload_id} of s3://{BUCKET}/{KEY} was kept for a resume" in caplog.text
    assert (record.path.stat().st_mode & 0o777) == 0o600


def test_resume_sends_only_the_missing_parts(fake: FakeS3, tmp_path: Path) -> None:
    data = payload(3 * PART + 100)
    upload_id = fail_after(fake, data, tmp_path)
    sent_before = fake.count("upload_part")
    w = make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path)
    with w:
        w.write(data)
    assert fake.count("upload_part") - sent_before == 1  # only the tail
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.upload_id == upload_id
    assert (w.result.parts_skipped, w.result.bytes_skipped) == (3, 3 * PART)
    assert w.result.integrity == "store-checksum"
    assert fake.live_uploads() == []
    assert find_journals(tmp_path, bucket=BUCKET) == []  # published: nothing to resume


def test_a_changed_part_is_sent_again_and_the_object_is_this_runs_bytes(
    fake: FakeS3, tmp_path: Path
) -> None:
    first = payload(3 * PART + 100)
    fail_after(fake, first, tmp_path)
    second = bytearray(first)
    second[PART + 7] ^= 0xFF  # part 2 differs
    sent_before = len(fake.calls_of("upload_part"))
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(bytes(second))
    resent = sorted(c.part_number or 0 for c in fake.calls_of("upload_part")[sent_before:])
    assert resent == [2, 4]
    assert fake.object_bytes(BUCKET, KEY) == bytes(second)
    assert w.result.parts_skipped == 2


def test_a_shorter_stream_drops_the_stored_parts_beyond_its_end(
    fake: FakeS3, tmp_path: Path
) -> None:
    data = payload(3 * PART + 100)
    fail_after(fake, data, tmp_path)
    shorter = data[: PART + 10]
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(shorter)
    assert fake.object_bytes(BUCKET, KEY) == shorter
    assert w.result.parts == 2
    assert w.result.parts_skipped == 1


def test_without_a_journal_the_pending_upload_is_found_by_listing(
    fake: FakeS3, tmp_path: Path
) -> None:
    data = payload(2 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path / "elsewhere")
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(data)
    assert w.result.upload_id == upload_id
    assert w.result.parts_skipped == 2
    assert fake.count("list_uploads") == 1


def test_resume_without_a_checksum_listing_compares_md5_etags(fake: FakeS3, tmp_path: Path) -> None:
    """A store whose ListParts shows no checksums (Ceph RGW): the ETag, the MD5 of the part,
    decides instead."""
    fake.checksum_mode = "ignore"
    data = payload(2 * PART + 1)
    fail_after(fake, data, tmp_path, checksum="md5")
    with make_writer(fake, resume=True, journal_dir=tmp_path, checksum="md5") as w:
        w.write(data)
    assert w.result.parts_skipped == 2
    assert fake.object_bytes(BUCKET, KEY) == data


def test_resume_with_nothing_pending_starts_a_new_upload(
    fake: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = payload(PART + 1)
    with make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path) as w:
        w.write(data)
    assert fake.object_bytes(BUCKET, KEY) == data
    assert w.result.parts_skipped == 0
    assert "no pending upload" in caplog.text
    assert "starting a new one" in caplog.text


def test_two_pending_uploads_are_refused_and_listed(fake: FakeS3, tmp_path: Path) -> None:
    data = payload(PART + 1)
    first = fail_after(fake, data, tmp_path / "a")
    second = fail_after(fake, data, tmp_path / "b")
    w = make_writer(fake, resume=True, journal_dir=tmp_path)
    with pytest.raises(UsageError, match="2 uploads are pending") as caught:
        w.write(data)
    assert first in str(caught.value)
    assert second in str(caught.value)
    assert "--upload-id" in str(caught.value)
    w.abort()
    assert sorted(fake.live_uploads()) == sorted([first, second])  # nothing touched
    with make_writer(fake, upload_id=second, journal_dir=tmp_path) as picked:
        picked.write(data)
    assert picked.result.upload_id == second
    assert picked.result.parts_skipped == 1
    assert fake.live_uploads() == [first]


def test_a_different_checksum_is_refused(fake: FakeS3, tmp_path: Path) -> None:
    data = payload(PART + 1)
    fail_after(fake, data, tmp_path)
    w = make_writer(fake, resume=True, journal_dir=tmp_path, checksum="crc32c")
    with pytest.raises(UsageError, match="started with checksum crc64nvme"):
        w.write(data)
    w.abort()


def test_abort_discards_even_a_resumable_writer(fake: FakeS3, tmp_path: Path) -> None:
    w = make_writer(fake, resumable=True, journal_dir=tmp_path)
    w.write(payload(2 * PART + 1))
    assert w.abort() is True
    assert fake.live_uploads() == []
    assert find_journals(tmp_path, bucket=BUCKET) == []


def test_a_kept_upload_can_still_be_aborted(fake: FakeS3, tmp_path: Path) -> None:
    fail_after(fake, payload(PART + 1), tmp_path)
    # ... by a resume run that decides against it, or by the writer that kept it:
    w = make_writer(fake, resumable=True, journal_dir=tmp_path)
    w.write(payload(PART + 1))
    upload_id = w.keep()
    assert upload_id is not None
    assert w.state is State.KEPT
    assert upload_id in fake.live_uploads()
    assert w.abort() is True
    assert upload_id not in fake.live_uploads()


def test_without_resumable_every_failure_still_aborts(fake: FakeS3, tmp_path: Path) -> None:
    w = make_writer(fake, journal_dir=tmp_path)
    with pytest.raises(Boom), w:
        w.write(payload(2 * PART + 1))
        raise Boom
    assert w.state is State.ABORTED
    assert fake.live_uploads() == []
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_a_torn_last_journal_line_is_ignored(fake: FakeS3, tmp_path: Path) -> None:
    """kill -9 inside the write of a part's line: the lines before it still count."""
    fail_after(fake, payload(3 * PART + 1), tmp_path)
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    with record.path.open("a") as f:
        f.write('{"part": 4, "si')
    again = read_journal(record.path)
    assert again is not None
    assert sorted(again.parts) == [1, 2, 3]
    header = json.loads(record.path.read_text().splitlines()[0])
    assert header["schedule"]["base"] == PART


def test_a_store_listing_no_checksums_uses_the_journals_instead_of_md5(
    fake: FakeS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto, SeaweedFS and Ceph RGW list no part checksums: the journal's checksum for the
    very stored part (same ETag) decides, so no MD5 of this run's parts is computed; a part
    whose bytes changed is still sent again."""
    fake.checksum_mode = "echo-unchecked"  # stores and echoes, lists nothing
    data = payload(3 * PART + 1)
    fail_after(fake, data, tmp_path)
    from s3sink._upload import parts

    md5s: list[int] = []
    real = parts.md5_digest
    monkeypatch.setattr(parts, "md5_digest", lambda b: md5s.append(len(b)) or real(b))
    changed = bytearray(data)
    changed[5] ^= 1  # part 1 differs
    sent_before = len(fake.calls_of("upload_part"))
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(bytes(changed))
    resent = sorted(c.part_number or 0 for c in fake.calls_of("upload_part")[sent_before:])
    assert resent == [1, 4]
    assert w.result.parts_skipped == 2
    assert fake.object_bytes(BUCKET, KEY) == bytes(changed)
    skipped_md5s = [n for n in md5s if n == PART]
    assert len(skipped_md5s) <= 1  # only for the re-sent part 1's own ETag check


SECRET_ENDPOINT = "http://user:SECRET@127.0.0.1:9"  # noqa: S105 - a dummy, on purpose
REDACTED_ENDPOINT = "http://***@127.0.0.1:9"  # as the printed resume command shows it


def test_the_journal_never_holds_the_endpoints_password(fake: FakeS3, tmp_path: Path) -> None:
    """An endpoint URL with user:password: the journal records the store without them, and
    a resume through the redacted endpoint (the printed command's) finds that journal."""
    fake.endpoint = SECRET_ENDPOINT
    data = payload(2 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path)
    (path,) = tmp_path.iterdir()
    assert "SECRET" not in path.read_text()
    assert "user" not in path.read_text()
    fake.endpoint = REDACTED_ENDPOINT
    with make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path) as w:
        w.write(data)
    assert w.result.upload_id == upload_id
    assert w.result.parts_skipped == 2
    assert fake.count("list_uploads") == 0  # found by its journal, not by listing
    assert list(tmp_path.iterdir()) == []  # published: the journal went with it


def legacy_journal(
    directory: Path, endpoint: str, upload_id: str, parts: list[dict[str, Any]]
) -> Path:
    """A journal as earlier versions wrote it: the endpoint as given, credentials included,
    and the file named by it."""

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    name = digest("\n".join([endpoint, BUCKET, KEY]))
    path = directory / f"{name}-{digest(upload_id)}.jsonl"
    header = {
        "s3sink_journal": 1,
        "endpoint": endpoint,
        "bucket": BUCKET,
        "key": KEY,
        "upload_id": upload_id,
        "schedule": {"base": PART, "max_part": 1 << 30, "flat_parts": 2048, "growth_every": 448},
        "checksum_algorithm": "crc64nvme",
        "started": "2026-12-01T00:00:00+00:00",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *parts]))
    return path


def test_an_earlier_versions_journal_with_a_password_is_found_and_rewritten_without_it(
    fake: FakeS3, tmp_path: Path
) -> None:
    """Journals written before this fix hold the endpoint with its credentials, under a
    name derived from them: a resume through the redacted endpoint still finds one (no
    listing), and keeping the upload again leaves a journal without the password."""
    fake.endpoint = SECRET_ENDPOINT
    data = payload(3 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path / "scratch")  # the store holds parts 1-3
    (new_style,) = find_journals(tmp_path / "scratch", bucket=BUCKET)
    parts = [json.loads(line) for line in new_style.path.read_text().splitlines()[1:]]
    old = legacy_journal(tmp_path / "journals", SECRET_ENDPOINT, upload_id, parts)
    fake.endpoint = REDACTED_ENDPOINT
    w = make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path / "journals")
    with pytest.raises(Boom), w:
        w.write(data[: 2 * PART])
        raise Boom
    assert w.state is State.KEPT
    assert fake.count("list_uploads") == 0  # found by the old journal
    assert not old.exists()
    (journal,) = (tmp_path / "journals").iterdir()
    assert "SECRET" not in journal.read_text()
    (record,) = find_journals(
        tmp_path / "journals", endpoint=REDACTED_ENDPOINT, bucket=BUCKET, key=KEY
    )
    assert record.upload_id == upload_id
    assert not record.credentials


def test_a_journal_whose_parts_exceed_max_memory_is_refused_up_front(
    fake: FakeS3, tmp_path: Path
) -> None:
    """Parts of 10 MiB, resumed under a 5 MiB budget: a usage error naming --max-memory
    before anything is read, and the upload and its journal are left as they were (a
    resume with more memory then works)."""
    data = payload(2 * PART + 10)
    upload_id = fail_after(fake, data, tmp_path, part_size=2 * PART)
    sent = fake.count("upload_part")
    w = make_writer(fake, resume=True, resumable=True, journal_dir=tmp_path, max_memory=PART)
    with pytest.raises(UsageError, match=r"--max-memory 10MiB or more \(library: max_memory=\)"):
        w.write(data)
    w.abort()
    assert fake.count("upload_part") == sent
    assert fake.live_uploads() == [upload_id]
    assert len(find_journals(tmp_path, bucket=BUCKET)) == 1
    with make_writer(fake, resume=True, journal_dir=tmp_path, max_memory=2 * PART) as w:
        w.write(data)
    assert w.result.parts_skipped == 1
    assert fake.object_bytes(BUCKET, KEY) == data


def test_a_resume_kept_again_counts_the_parts_the_store_holds(
    fake: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A resume that fails before it sends a part: the message counts what the store
    holds (3 parts), not what this run sent (none)."""
    data = payload(3 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path)
    caplog.clear()
    w = make_writer(fake, resume=True, resumable=True, journal_dir=tmp_path)
    with pytest.raises(Boom), w:
        w.write(data[:100])
        raise Boom
    assert w.state is State.KEPT
    assert f"upload {upload_id} of s3://{BUCKET}/{KEY} was kept for a resume: 3 parts" in (
        caplog.text
    )
    assert "(15 MiB) are stored" in caplog.text


CREATED_WITH = {
    "ContentType": "text/plain",
    "Metadata": {"origin": "db1"},
    "Tagging": "keep=30d",
    "StorageClass": "STANDARD_IA",
}


def test_a_resume_with_other_object_settings_is_refused_naming_them(
    fake: FakeS3, tmp_path: Path
) -> None:
    """CreateMultipartUpload fixed the first run's settings: a resume asking for others is
    a usage error naming each option that differs (before anything is read, the upload
    untouched); with the same settings it resumes, and the object has them."""
    data = payload(2 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path, extra_args=CREATED_WITH)
    sent = fake.count("upload_part")
    other = {**CREATED_WITH, "ContentType": "application/x-tar", "Metadata": {}}
    del other["Tagging"]
    w = make_writer(fake, resume=True, journal_dir=tmp_path, extra_args=other)
    with pytest.raises(UsageError, match="a resume cannot change them") as caught:
        w.write(data)
    w.abort()
    text = str(caught.value)
    assert '--content-type (extra_args ContentType): "text/plain" when the upload was' in text
    assert '"application/x-tar" now' in text
    assert "--metadata (extra_args Metadata)" in text
    assert '--tag (extra_args Tagging): "keep=30d" when the upload was created, none now' in text
    assert "--storage-class" not in text  # the same
    assert fake.count("upload_part") == sent
    assert fake.live_uploads() == [upload_id]
    assert len(find_journals(tmp_path, bucket=BUCKET)) == 1
    with make_writer(fake, resume=True, journal_dir=tmp_path, extra_args=CREATED_WITH) as w:
        w.write(data)
    assert w.result.parts_skipped == 2
    assert fake.objects[BUCKET, KEY].extra["ContentType"] == "text/plain"


def test_an_sse_c_key_is_never_stored_but_a_different_one_is_refused(
    fake: FakeS3, tmp_path: Path
) -> None:
    key = "k" * 32
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    data = payload(2 * PART + 1)
    fail_after(fake, data, tmp_path, extra_args=sse_c)
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert key not in record.path.read_text()
    other = {**sse_c, "SSECustomerKey": "x" * 32}
    w = make_writer(fake, resume=True, journal_dir=tmp_path, extra_args=other)
    with pytest.raises(
        UsageError, match=r"--sse-c-key-file \(extra_args SSECustomerKey\): another key than"
    ) as caught:
        w.write(data)
    w.abort()
    assert "x" * 32 not in str(caught.value)
    with make_writer(fake, resume=True, journal_dir=tmp_path, extra_args=sse_c) as w:
        w.write(data)
    assert w.result.parts_skipped == 2


def test_without_a_journal_the_resume_says_the_upload_keeps_its_settings(
    fake: FakeS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = payload(2 * PART + 1)
    upload_id = fail_after(fake, data, tmp_path / "elsewhere", extra_args=CREATED_WITH)
    with make_writer(fake, resume=True, journal_dir=tmp_path) as w:
        w.write(data)
    assert f"upload {upload_id} of s3://{BUCKET}/{KEY} keeps the settings it was created" in (
        caplog.text
    )
    assert "this run's are not applied" in caplog.text


def test_a_resume_that_cuts_parts_otherwise_rewrites_the_journals_schedule(
    fake: FakeS3, tmp_path: Path
) -> None:
    """Run 1 cuts 5 MiB parts; run 2 resumes with 10 MiB parts (a schedule of more
    capacity, so it is not the journal's), replaces parts 1-2 and fails. The journal now
    says 10 MiB parts and lists what the store holds, so run 3, cut by it, skips run 2's
    parts (cut by the old 5 MiB schedule it would skip none)."""
    data = payload(4 * PART + 1, seed=2)
    fail_after(fake, payload(4 * PART + 1, seed=1), tmp_path)  # other bytes: parts 1-4
    w = make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path, part_size=2 * PART)
    with pytest.raises(Boom), w:
        w.write(data)  # parts 1-2 of 10 MiB are sent; the tail is not
        raise Boom
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert record.schedule.base == 2 * PART
    assert {n: p.size for n, p in record.parts.items()} == {
        1: 2 * PART,
        2: 2 * PART,
        3: PART,  # run 1's, still stored
        4: PART,
    }
    with make_writer(fake, resume=True, journal_dir=tmp_path, part_size=PART) as w:
        w.write(data)
    assert w.schedule.base == 2 * PART
    assert (w.result.parts_skipped, w.result.bytes_skipped) == (2, 4 * PART)
    assert fake.object_bytes(BUCKET, KEY) == data


def test_two_writers_cannot_resume_one_upload_at_once(fake: FakeS3, tmp_path: Path) -> None:
    """A writer still sending holds its journal's lock (flock): a resume of that upload
    meanwhile is refused, touching nothing; once the first keeps the upload the resume takes
    it up, and holds the lock in turn."""
    data = payload(3 * PART + 1)
    first = make_writer(fake, resumable=True, journal_dir=tmp_path)
    first.write(data[: 2 * PART + 1])  # the upload exists, its journal is locked
    busy = "is being written or resumed by another s3sink on this machine"
    second = make_writer(fake, resume=True, resumable=True, journal_dir=tmp_path)
    with pytest.raises(UsageError, match=busy):
        second.write(data)
    second.abort()
    assert fake.live_uploads() == [first.upload_id]
    assert len(find_journals(tmp_path, bucket=BUCKET)) == 1
    first.keep()
    third = make_writer(fake, resume=True, journal_dir=tmp_path)
    third.write(data)  # resuming: it holds the lock now
    fourth = make_writer(fake, resume=True, journal_dir=tmp_path)
    with pytest.raises(UsageError, match=busy):
        fourth.write(data)
    fourth.abort()
    third.close()
    assert third.result.parts_skipped == 2
    assert fake.object_bytes(BUCKET, KEY) == data
    assert find_journals(tmp_path, bucket=BUCKET) == []


def test_the_journal_keeps_the_command_that_resumes_it(fake: FakeS3, tmp_path: Path) -> None:
    """resume_command= is recorded in the journal's header (for uploads list, after a run
    that could print nothing), and a resume that is kept again records its own."""
    first = ResumeCommand(("s3sink", "s3://b/k", "--resumable", "--resume"), "stdin", "/srv/b")
    fail_after(fake, payload(2 * PART + 1), tmp_path, resume_command=first)
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert record.command == first
    again = ResumeCommand(("s3sink", "s3://b/k", "--resume", "--resumable", "--", "tar"), None)
    w = make_writer(fake, resumable=True, resume=True, journal_dir=tmp_path, resume_command=again)
    with pytest.raises(Boom), w:
        w.write(payload(2 * PART + 1))
        raise Boom
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert record.command == again


def test_a_resume_without_its_own_command_keeps_the_recorded_one(
    fake: FakeS3, tmp_path: Path
) -> None:
    command = ResumeCommand(("s3sink", "s3://b/k", "--resumable", "--resume"), "stdin")
    fail_after(fake, payload(2 * PART + 1), tmp_path, resume_command=command)
    fail_after(fake, payload(2 * PART + 1), tmp_path, resume=True)
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert record.command == command


def test_a_journal_without_a_command_reads_as_none(fake: FakeS3, tmp_path: Path) -> None:
    """The library's journals (and those of earlier versions) record no command."""
    fail_after(fake, payload(2 * PART + 1), tmp_path)
    (record,) = find_journals(tmp_path, bucket=BUCKET)
    assert record.command is None
    assert json.loads(record.path.read_text().splitlines()[0])["resume_command"] is None
