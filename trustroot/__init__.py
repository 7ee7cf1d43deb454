"""Trust material and its model: pinned TUF roots and Sigstore trusted roots.

This package imports nothing of ours (an import contract enforces it): trust
anchors every decision, so it cannot depend on code it is meant to anchor.
"""
