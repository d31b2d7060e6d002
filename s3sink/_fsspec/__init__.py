"""What ``s3sink.fsspec`` is made of, without fsspec: the storage options, the files it
hands out."""
