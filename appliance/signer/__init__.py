"""Offline signing: HSM keys through PKCS#11, and cosign file keys.

Everything that signs implements :class:`appliance.signer.interface.Signer`,
so signing images in a transfer archive can be built on top without touching
the PKCS#11 code. ``pkcs11`` is imported only by :mod:`appliance.signer.pkcs11`.
"""
