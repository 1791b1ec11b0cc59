"""Conformance suite for component authors."""
