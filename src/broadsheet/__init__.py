"""Broadsheet: a self-hostable daily papers site."""
