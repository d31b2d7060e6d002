"""The seam to S3: the transport Protocol and its botocore implementation, the one place that
builds a client and maps botocore's errors, retries, checksums, Object Lock, the rate limit,
the bucket's lifecycle rule and redaction. Nothing here knows about writers or uploads."""
