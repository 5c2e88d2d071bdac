"""Backups and restores of the whole database, each verified before it is called good."""
