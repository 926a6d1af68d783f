"""Fake Kubernetes API server used as the test double for kubectl-ir (see ../README.md)."""
