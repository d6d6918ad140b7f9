"""Tests of authgate.verifier (a package, so its helpers import relatively)."""
