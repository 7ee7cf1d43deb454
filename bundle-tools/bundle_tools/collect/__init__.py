"""Pulling from registries: the exporter's only network edge.

:mod:`.discover` finds an image and everything signed about it through
:mod:`airlock_registry` (the one transport both programs share); :mod:`.blobs`
keeps checked blobs by digest.
"""
