"""The sigstore-conformance entrypoint (see README.md)."""
