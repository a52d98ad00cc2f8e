"""Tests of polypnet.data."""
