"""The file object: :class:`S3MultipartWriter`'s io surface, its part buffer, how it ends
(close, abort, keep, the finaliser), its inputs (bytes, readers, files) and compression in
front of the buffer."""
