"""The I/O edges both programs share, so that neither can be weaker than the other.

* :mod:`airlock_io.archive`: the transfer archive read in one streaming pass
  (``.tar.zst``, ``.tar``, a layout directory, or parts), every member hashed
  as it goes by, only the small documents kept;
* :mod:`airlock_io.parts`: an archive in parts read as one stream, each part
  checked and hashed, and the re-request list when parts are damaged;
* :mod:`airlock_io.atomic`: writes that are never half-done, never destroy a
  device or a link, keep modes, and sweep what a killed process left;
* :mod:`airlock_io.inputs`: reads whose size is checked before reading;
* :mod:`airlock_io.frame`: the command-line frame (exit codes, one-line and
  JSON errors, usage errors, safe output encodings, SIGTERM as Ctrl-C);
* :mod:`airlock_io.exit_codes`: the three documented exit codes;
* :mod:`airlock_io.terminal`: untrusted text (archive, registry, certificate)
  made safe to show: controls and bidi escaped, markup and emoji codes literal.

It imports the pure verification core (for its error hierarchy) and nothing
else of ours; ``appliance`` and ``bundle_tools`` both import it.
"""
