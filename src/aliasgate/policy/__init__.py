"""Policy language v1: the shipped JSON Schema, the loader, and the typed model."""

from aliasgate.policy.load import load_policy, load_text, schema, schema_text
from aliasgate.policy.model import Gate, Loc, Policy, RetentionRule, Rule

__all__ = [
    "Gate",
    "Loc",
    "Policy",
    "RetentionRule",
    "Rule",
    "load_policy",
    "load_text",
    "schema",
    "schema_text",
]
