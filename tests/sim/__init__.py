"""Tests of chainlab.sim."""
