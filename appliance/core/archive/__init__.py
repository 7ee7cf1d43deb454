"""The transfer archive's model, shared by both programs so that they cannot drift.

``bundle-tools export`` writes what this package describes and ``appliance
verify`` reads it; both import these modules and nothing else decides the
format. Pure: bytes and values in, values out; no files, clock or network.

* :mod:`.media`: media types, annotation keys, our artifact types;
* :mod:`.manifest`: descriptors, manifests and indexes, parsed strictly;
* :mod:`.reference`: image references, normalised as docker does;
* :mod:`.layout`: the layout's members, ``index.json`` and the member order;
* :mod:`.ledger`: the export ledger (what was asked, found, carried, left out);
* :mod:`.capsule`: trust carried as an artifact (TUF capsule, trusted root);
* :mod:`.evidence`: what offline evidence each signature carries.

Example::

    from appliance.core.archive import layout
    from appliance.core.archive.ledger import Ledger

    order = layout.member_order(index.manifests, manifests)
    ledger = Ledger.from_bytes(ledger_bytes)
"""
