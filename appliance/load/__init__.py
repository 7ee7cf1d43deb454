"""Pushing verified images into the in-gap registry: the appliance's only network action.

Nothing here decides what is verified: :mod:`appliance.core.archive.verify`
does, in the same process, and :mod:`appliance.core.archive.plan` turns its
verdict into what to push. This package executes that plan against the one
registry the operator named, through :mod:`airlock_registry`, inside the
seal's permit for that host and port.
"""
