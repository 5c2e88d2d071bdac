"""Intelligence (研判): scam-type suggestion, explained risk, dissuasion scripts, and fraudster
contacts linked across cases."""
