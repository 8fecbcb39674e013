"""The engine of Luneo AI Studio: everything that knows nothing of Discord.

The path of a job through these modules is drawn in docs/architecture.md.
"""
