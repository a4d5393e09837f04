"""Health: the database and the Prefect API, each checked for real."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.db.engine import make_engine
from dalgo.settings import Settings
from tests.support.network import free_port


def test_health_is_ok_when_database_and_prefect_answer(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"api": "ok", "database": "ok", "prefect": "ok"}


def test_health_answers_503_naming_what_is_down(settings: Settings) -> None:
    """Once started, the API reports a database and a Prefect server that stopped answering
    (here: addresses where nothing listens)."""
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/api/v1/health").status_code == 200
        app.state.engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/gone")
        app.state.settings = settings.model_copy(
            update={"prefect_api_url": f"http://127.0.0.1:{free_port()}/api", "prefect_timeout_s": 3.0}
        )
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["api"] == "ok"
    assert body["database"].startswith("error: OperationalError")
    assert body["prefect"].startswith("error:")
