"""The ``appliance`` command line: argument parsing, exit codes, rendering."""
