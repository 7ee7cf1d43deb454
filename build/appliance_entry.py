"""PyInstaller's entry script for the sealed appliance: seal, then run the CLI."""

from appliance.__main__ import entry

entry()
