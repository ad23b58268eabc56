"""The use cases every adapter calls: services (ingest, refresh, analyses, privacy),
analysis (off the event loop, cached per thread revision), scheduler (digests) and the
digest option rules the CLI, Discord and Matrix share. Platform-neutral, like bot/core.
"""
