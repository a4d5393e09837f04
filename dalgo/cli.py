"""The `dalgo` command line: run the local stack, and administer users."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from dalgo.settings import get_settings

app = typer.Typer(help="Dalgo: a Prefect-first data platform for NGOs.", no_args_is_help=True)
admin_app = typer.Typer(help="Administer the platform from the command line.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(
    api_port: Annotated[int, typer.Option(help="Port of the web API.")] = 8000,
    prefect_port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
    host: Annotated[str, typer.Option(help="Address the web API listens on.")] = "127.0.0.1",
    prefect_host: Annotated[
        str, typer.Option(help="Address the Prefect server and UI listen on (see PREFECT_UI_URL).")
    ] = "127.0.0.1",
) -> None:
    """Run the local stack in the foreground (Prefect server, worker, API) until interrupted.

    Its parts end with it, however it ends; a port already taken is named with the process holding it.
    """
    from dalgo.stack import run_stack

    code = run_stack(
        get_settings(), api_port=api_port, prefect_port=prefect_port, host=host, prefect_host=prefect_host
    )
    raise typer.Exit(code)


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the stack running after the demo, until Ctrl-C.")
    ] = False,
    api_port: Annotated[int, typer.Option(help="Port of the web API.")] = 8000,
    prefect_port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
    run_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the pipeline run before giving up.")
    ] = 1800.0,
) -> None:
    """Start the local stack, set up a demo org with a pipeline, run it once and show what it made."""
    from dalgo.demo import run_demo

    raise typer.Exit(
        run_demo(
            get_settings(),
            api_port=api_port,
            prefect_port=prefect_port,
            serve=serve,
            run_timeout_s=run_timeout,
        )
    )


@app.command()
def deploy(
    file: Annotated[
        str | None, typer.Option(help="The prefect.yaml to apply (default: the project's).")
    ] = None,
) -> None:
    """Apply the platform's maintenance deployments (prefect.yaml) to the Prefect server."""
    import asyncio
    from pathlib import Path

    from dalgo.deployments.platform import PREFECT_YAML, PlatformDeploymentError
    from dalgo.deployments.platform import deploy as apply_deployments

    settings = get_settings()
    if not settings.prefect_api_url:
        typer.echo("Error: set PREFECT_API_URL to the Prefect server to deploy to.", err=True)
        raise typer.Exit(2)
    try:
        applied = asyncio.run(apply_deployments(settings, Path(file) if file else PREFECT_YAML))
    except PlatformDeploymentError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from error
    for name in applied:
        typer.echo(f"Applied {name} (work pool {settings.work_pool}, queue platform).")


@admin_app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="The new user's email.")],
    password: Annotated[
        str,
        typer.Option(help="The new user's password.", prompt=True, hide_input=True, confirmation_prompt=True),
    ],
    platform_admin: Annotated[
        bool, typer.Option("--platform-admin", help="Let the user create orgs.")
    ] = False,
) -> None:
    """Make a user (optionally a platform admin, who may create orgs)."""
    from email_validator import EmailNotValidError, validate_email

    from dalgo.api.security import MIN_PASSWORD_LENGTH
    from dalgo.api.services.accounts import AccountError
    from dalgo.api.services.accounts import create_user as make_user
    from dalgo.db.engine import make_engine, migrate

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if len(password) < MIN_PASSWORD_LENGTH:
        typer.echo(f"Error: a password needs at least {MIN_PASSWORD_LENGTH} characters.", err=True)
        raise typer.Exit(2)
    engine = make_engine(get_settings().resolved_database_url)
    migrate(engine)
    with Session(engine) as session:
        try:
            user = make_user(session, email, password, is_platform_admin=platform_admin)
        except AccountError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from exc
        session.commit()
        kind = "platform admin" if user.is_platform_admin else "user"
        typer.echo(f"Made {kind} {user.email} (id {user.id}).")
    engine.dispose()


@admin_app.command("airbyte-server")
def airbyte_server(
    api_url: Annotated[
        str, typer.Option(help="The server's public API root, e.g. http://airbyte:8000/api/public/v1.")
    ],
    client_id: Annotated[str | None, typer.Option(help="Client id of an Airbyte application.")] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="Its client secret.", envvar="DALGO_AIRBYTE_CLIENT_SECRET")
    ] = None,
    bearer_token: Annotated[
        str | None, typer.Option(help="A token instead of a client.", envvar="DALGO_AIRBYTE_BEARER_TOKEN")
    ] = None,
    config_api_url: Annotated[
        str | None, typer.Option(help="The Config API root, if not beside api-url.")
    ] = None,
    organization_id: Annotated[
        str | None, typer.Option(help="The organization new workspaces go in.")
    ] = None,
) -> None:
    """Set the platform's Airbyte server, which orgs may then choose as their ingestion engine."""
    import asyncio

    from pydantic import SecretStr

    from dalgo.blocks.ingestion import AirbyteServerBlock
    from dalgo.deployments.client import prefect_client
    from dalgo.deployments.ingestion import save_server_block

    if bearer_token is None and not (client_id and client_secret):
        typer.echo("Error: give --client-id and --client-secret, or --bearer-token.", err=True)
        raise typer.Exit(2)
    block = AirbyteServerBlock(
        api_url=api_url,
        config_api_url=config_api_url,
        client_id=client_id if bearer_token is None else None,
        client_secret=SecretStr(client_secret) if client_secret and bearer_token is None else None,
        bearer_token=SecretStr(bearer_token) if bearer_token else None,
        organization_id=organization_id,
    )

    async def save() -> None:
        async with prefect_client(get_settings()) as client:
            await save_server_block(client, block)

    asyncio.run(save())
    typer.echo(f"The platform's Airbyte server is now {api_url}.")


if __name__ == "__main__":
    app()
