"""The role matrix data file and how it is seeded."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dalgo.db.models import Role, RolePermission
from dalgo.db.roles import parse_role_matrix, role_matrix


def test_levels_are_cumulative_and_ordered() -> None:
    matrix = role_matrix()
    assert [r.slug for r in matrix.roles] == [
        "guest",
        "analyst",
        "pipeline-manager",
        "account-manager",
        "super-admin",
    ]
    for lower, higher in zip(matrix.roles, matrix.roles[1:], strict=False):
        assert lower.level < higher.level
        assert lower.permissions < higher.permissions
    assert matrix.role("super-admin").permissions == frozenset(matrix.permissions)


def test_the_matrix_says_what_design_section_4_says() -> None:
    matrix = role_matrix()
    guest = matrix.role("guest").permissions
    assert all(p.startswith("can_view") for p in guest)
    assert "can_run_dbt" in matrix.role("analyst").permissions - guest
    assert "can_view_invitations" in matrix.role("analyst").permissions
    assert "can_run_pipeline" not in matrix.role("analyst").permissions
    assert {"can_create_source", "can_sync_connection", "can_cancel_run"} <= matrix.role(
        "pipeline-manager"
    ).permissions
    assert "can_edit_warehouse" not in matrix.role("pipeline-manager").permissions
    assert {"can_create_invitation", "can_edit_warehouse", "can_edit_orguser_role"} <= matrix.role(
        "account-manager"
    ).permissions
    assert "can_delete_org" not in matrix.role("account-manager").permissions
    assert "can_delete_org" in matrix.role("super-admin").permissions


def test_a_role_naming_an_unknown_permission_is_rejected() -> None:
    text = (
        '[permissions]\ncan_x = "x"\n[[roles]]\nslug = "a"\nname = "A"\nlevel = 1\npermissions = ["can_y"]\n'
    )
    with pytest.raises(ValueError, match="can_y"):
        parse_role_matrix(text)


def test_the_database_holds_the_seeded_matrix(engine: object) -> None:
    with Session(engine) as session:  # type: ignore[arg-type]
        roles = session.exec(select(Role)).all()
        pairs = session.exec(select(RolePermission)).all()
    assert {r.slug: r.level for r in roles} == {r.slug: r.level for r in role_matrix().roles}
    seeded = {(p.role_slug, p.permission_slug) for p in pairs}
    expected = {(r.slug, p) for r in role_matrix().roles for p in r.permissions}
    assert seeded == expected
