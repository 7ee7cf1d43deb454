"""The appliance's trust edge: which trusted root is in force, read from where."""
