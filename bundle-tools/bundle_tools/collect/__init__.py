"""Pulling from registries: the exporter's only network edge.

:mod:`.oci` is the only module importing oras; :mod:`.discover` finds an
image and everything signed about it; :mod:`.blobs` keeps checked blobs by
digest; :mod:`.credentials` reads the Docker config.
"""
