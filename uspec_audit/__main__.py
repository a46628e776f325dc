"""``python -m uspec_audit`` runs the command line."""

from uspec_audit.cli.app import main

main()
