"""belen's test bed as a Python package: e2e/testbed.py (used by the drill in tests/e2e and by bin/up-local)."""
