"""The command groups of ``cxpulse``: one small module per group, each with ``register(commands)``."""
