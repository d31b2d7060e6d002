"""One multipart upload: its state, the part pool and memory budget, sending parts, the
commit, the abort, the part-size policy and the resume journal. Knows the store only through
:mod:`s3sink._store`; knows nothing of file objects."""
