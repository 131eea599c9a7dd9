"""The README's permission and transition tables are copies of the data in rules.py: keep them true."""

from __future__ import annotations

import re
from pathlib import Path

from workflows.rules import PERMISSIONS, TRANSITIONS, Role

README = Path(__file__).parent.parent / "README.md"
ROLES = [Role.ADMIN, Role.MANAGER, Role.SALES, Role.FINANCE, Role.WAREHOUSE, Role.SYSTEM]


def permissions_table() -> str:
    rows = ["| command | " + " | ".join(role.value for role in ROLES) + " |",
            "|---|" + "---|" * len(ROLES)]
    for command, roles in PERMISSIONS.items():
        marks = " | ".join("✓" if role in roles else "" for role in ROLES)
        rows.append(f"| `{command.value}` | {marks} |")
    return "\n".join(rows)


def transitions_table() -> str:
    rows = ["| from | to | roles | reason required | also required |", "|---|---|---|---|---|"]
    for t in TRANSITIONS:
        roles = ", ".join(role.value for role in ROLES if role in t.roles)
        rows.append(f"| `{t.source.value}` | `{t.target.value}` | {roles} | "
                    f"{'yes' if t.reason_required else 'no'} | {', '.join(t.required_fields) or '—'} |")
    return "\n".join(rows)


def section(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n?<!-- {name}:end -->", README.read_text(), re.S)
    assert match, f"README has no {name} section"
    return match.group(1).strip()


def test_readme_permission_table_matches_the_rules() -> None:
    assert section("permissions") == permissions_table(), "paste this into README:\n" + permissions_table()


def test_readme_transition_table_matches_the_rules() -> None:
    assert section("transitions") == transitions_table(), "paste this into README:\n" + transitions_table()
