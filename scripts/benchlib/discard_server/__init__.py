"""A discard S3 endpoint for benchmarks: it speaks enough S3, drops every payload byte, counts them.

Clients (boto3, the AWS CLI, s5cmd, smart_open, obstore, s3sink) upload to it as if it were S3.
Every request body is read into one reused buffer per connection and thrown away; only the
number of payload bytes is kept: per PutObject, per part, and per object at
CompleteMultipartUpload (the sum of the parts listed there, which must all exist). The counts
answer ``GET /__stats`` (JSON) and :meth:`DiscardS3Server.stats`, so a benchmark can check that
each upload arrived whole.

ETags are S3's: a PutObject's or part's is the hex MD5 of the (decoded) payload, hashed in the
same pass that drops it; a multipart object's is the MD5 of its parts' binary MD5s plus "-N".
A payload whose Content-MD5 does not match is refused with BadDigest. To keep the server cheap,
a part's payload sent with an x-amz-checksum-* and no Content-MD5 is not hashed (its checksum is
echoed, and its ETag is MD5-shaped but made up) unless ``--always-md5``; with
``--no-etag-md5`` (what ``scripts/bench`` runs) nothing is hashed but to check a Content-MD5;
see ``connection.Connection._wants_md5``.

Handled on the wire: keep-alive, ``Expect: 100-continue``, ``Transfer-Encoding: chunked``,
``Content-Encoding: aws-chunked`` (signed or unsigned chunks, trailers; only decoded payload
bytes count, checked against ``x-amz-decoded-content-length``), path-style and
virtual-host-style addressing, any credentials. HTTPS uses a throw-away CA and a certificate
for 127.0.0.1/::1/localhost made at start (``cryptography`` if importable, else ``openssl``).

One thread per connection; it listens on loopback only. Run as a script (``python
scripts/benchlib/discard_server``: ``__main__.py``) it prints one JSON line (url, port, ca_file,
pid) on stdout once ready and serves until SIGTERM or SIGINT.

Reading back (the read table): ``POST /__synthetic?bucket=B&key=K&size=N`` stores a synthetic
object that HeadObject and GetObject (whole, a Range, a partNumber; If-Match) serve from one
1 MiB block (``benchlib.synthetic_data``), with its ETag and a stored FULL_OBJECT CRC64NVME;
``corrupt=OFFSET`` flips one byte on the way out. See ``reads.py``.

Its modules, each importing only those before it: ``wire`` (HTTP framing), ``s3`` (errors,
records, state, checksum and XML helpers), ``connection`` (one client connection), ``reads``
(HeadObject, GetObject and synthetic objects), ``operations`` (the S3 operations a
connection answers), ``server`` (``DiscardS3Server``), and apart ``tls`` (the certificates);
``__main__`` is the command line.
"""
