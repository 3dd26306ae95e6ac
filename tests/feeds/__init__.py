"""Tests of the RSS, Atom and JSON feeds."""
