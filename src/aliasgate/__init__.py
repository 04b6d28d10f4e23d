"""aliasgate: declarative, gated, atomic and audited model promotion."""

__version__ = "0.1.0"
