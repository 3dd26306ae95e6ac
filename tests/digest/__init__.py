"""Tests of subscriptions and digest emails."""
