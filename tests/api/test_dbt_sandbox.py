"""Attacks on the platform from a tenant's dbt project, through the web API: the project's model
asks for the platform's variables and tries to read another org's file and a file of the
platform's own folder; its packages.yml names a folder outside the repository."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.run_logs import run_detail_with_step
from tests.support.accounts import OrgWithRoles
from tests.support.dbt import Repo, logs, operate, workspace_body

PROBE_MODEL = """
{{ log("probe database url: " ~ env_var('DALGO_DATABASE_URL', 'absent'), info=True) }}
{{ log("probe prefect api: " ~ env_var('PREFECT_API_URL', 'absent'), info=True) }}
{{ log("probe prefect auth: " ~ env_var('PREFECT_API_AUTH_STRING', 'absent'), info=True) }}
{% if execute %}
  {% for pattern in ["OTHER_ORG_FILE", "PLATFORM_FILE"] %}
    {% set found = run_query("select file from glob('" ~ pattern ~ "')").columns[0].values() %}
    {{ log("probe found " ~ (found | length) ~ " file(s) at " ~ pattern, info=True) }}
    {% for file in found %}
      {% set text = run_query("select content from read_text('" ~ file ~ "')").columns[0].values()[0] %}
      {{ log("probe read: " ~ text, info=True) }}
    {% endfor %}
  {% endfor %}
{% endif %}
select 1 as ok
"""


def _attack_repo(root: Path, other_org_file: Path, platform_file: Path) -> Repo:
    """The test project reduced to one probing model, with a packages.yml reaching outside."""
    repo = Repo(root)
    project = repo.work / "transform"
    for folder in ("models", "seeds", "tests", "dalgo_utils"):
        shutil.rmtree(project / folder)
    (project / "models").mkdir()
    model = PROBE_MODEL.replace("OTHER_ORG_FILE", str(other_org_file))
    (project / "models" / "probe.sql").write_text(model.replace("PLATFORM_FILE", str(platform_file)))
    (project / "packages.yml").write_text(f"packages:\n  - local: {other_org_file.parent}\n")
    repo.commit("A project that probes the platform", "main")
    return repo


def test_a_dbt_project_sees_none_of_the_platform_and_no_other_org(
    client: TestClient,
    worker: str,
    settings: Settings,
    tmp_path: Path,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    secret = f"not-for-tenants-{uuid.uuid4().hex}"
    other_org_file = settings.org_home(f"other-{uuid.uuid4().hex[:8]}") / "secret.txt"
    other_org_file.parent.mkdir(parents=True)
    other_org_file.write_text(secret)
    platform_file = settings.resolved_home / f"platform-{uuid.uuid4().hex[:8]}.txt"
    platform_file.write_text(secret)
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    repo = _attack_repo(tmp_path, other_org_file, platform_file)
    body = workspace_body(repo, git_token=None)
    assert (
        client.put(f"/api/v1/orgs/{org.slug}/dbt", json=body, headers=org.headers["analyst"]).status_code
        == 200
    )

    refused = operate(client, org, "deps")
    assert refused["state"] == "failed", refused
    assert refused["result"]["message"] == (
        f"The dbt package 'local: {other_org_file.parent}' in packages.yml lies outside the repository: "
        "a local package must be a folder inside the workspace's repository."
    )
    assert not (settings.org_home(org.slug) / "dbt" / "repo" / "transform" / "dbt_packages").exists()

    (repo.work / "transform" / "packages.yml").unlink()
    repo.commit("No packages", "main")
    assert operate(client, org, "git-pull")["state"] == "completed"
    probed = operate(client, org, "run")
    assert probed["state"] == "completed", probed
    run_detail_with_step(client, org.slug, str(probed["id"]), org.headers["guest"], "model probe")
    run_logs = logs(client, org, str(probed["id"]), awaiting=f"probe found 0 file(s) at {platform_file}")
    assert "probe database url: absent" in run_logs and "probe prefect api: absent" in run_logs
    assert "probe prefect auth: absent" in run_logs
    assert f"probe found 0 file(s) at {other_org_file}" in run_logs
    assert f"probe found 0 file(s) at {platform_file}" in run_logs
    assert secret not in run_logs and "probe read" not in run_logs
    assert str(settings.database_url) not in run_logs and str(settings.prefect_api_url) not in run_logs
