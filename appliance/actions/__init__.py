"""The appliance's verbs: typed request in, typed result out, for both faces.

The CLI (:mod:`appliance.cli`) parses flags into a request and renders the
result; the TUI (:mod:`appliance.tui`) builds the same request from its screens.
An action owns its whole use case: the clock read once, the policy, the trust,
the verdict, the push or the write, the memories and the audit line. Neither
face writes any of that itself::

    from appliance.actions.verify import VerifyRequest, verify
    from appliance.actions.policy import PolicyFile

    outcome = verify(VerifyRequest(archive=path, policy=PolicyFile(path=policy),
                                   state_dir=state))
    outcome.code, outcome.report["images"]

Actions never import argparse, rich or textual (an import contract says so).
"""
