"""Loading the policy file (the shipped default, or QUANZU_POLICY_FILE)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from quanzu.kit.validation import parse
from quanzu.policy.schemas import Policy


def load_policy(path: Path | None = None) -> Policy:
    if path is None:
        text = (resources.files("quanzu.policy") / "default.yaml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse(Policy, yaml.safe_load(text), prefix="policy")
