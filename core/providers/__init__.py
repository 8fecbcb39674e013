"""Providers: the things that actually do a tool's work (remote APIs or local models)."""
