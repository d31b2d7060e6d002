"""``s3sink mount``: the write-only filesystem's logic (``fs``, no FUSE import), its write
sequencing, and ``fuse``, the only module that imports the FUSE binding."""
