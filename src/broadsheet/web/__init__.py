"""The web layer: app assembly, shared dependencies, templates and error pages."""
