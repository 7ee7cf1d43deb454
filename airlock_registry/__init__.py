"""Registry I/O (our own transport on requests), for the two programs' network edges only.

The exporter pulls with it (``bundle-tools export``); the appliance pushes
with it in ``appliance load`` and nowhere else (import contracts in
pyproject.toml, and the seal, which admits that one host for that command).
"""
