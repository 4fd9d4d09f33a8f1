"""``embedspace serve``: the HTTP API and the web page."""

from __future__ import annotations

import click

from embedspace.server.settings import TOKEN_VARIABLE


@click.command("serve")
@click.argument("spaces", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token",
    envvar=TOKEN_VARIABLE,
    metavar="T",
    help=f"Bearer token that may read and write (or ${TOKEN_VARIABLE}); required beyond 127.0.0.1.",
)
@click.option("--read-only-token", metavar="T", help="Bearer token that may only read.")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Encoder(s) served at /v1/embeddings (repeat; default minilm-l6).",
)
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN", help="Allow a browser origin.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes sharing the port, each with its own model and its share of the "
    "cores. One per core answers bursts of searches sooner (bench/RESULTS.md §24), for "
    "that much more memory.",
)
@click.option(
    "--recommender",
    "recommenders",
    multiple=True,
    metavar="PATH",
    type=click.Path(exists=True, file_okay=False),
    help="A two-tower model folder served at /recommenders/NAME (repeat).",
)
def serve_command(
    spaces: tuple[str, ...],
    host: str,
    port: int,
    token: str | None,
    read_only_token: str | None,
    models: tuple[str, ...],
    cors: tuple[str, ...],
    workers: int,
    recommenders: tuple[str, ...],
) -> None:
    """Serve SPACES (default: every space in $EMBEDSPACE_HOME) over HTTP: an
    OpenAI-compatible /v1/embeddings, spaces and search under /spaces, the web page at /,
    and the API's documentation at /docs. Stop with Ctrl-C.

    \b
    Examples:
      embedspace serve news                      # http://127.0.0.1:8000
      embedspace serve faq --recommender movies  # also recommendations
      embedspace serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"
      curl -s localhost:8000/v1/embeddings -H 'Content-Type: application/json' \\
           -d '{"input": ["a cat"], "model": "minilm-l6"}'
    """
    from embedspace.server import ServerSettings, serve

    chosen = models or ("minilm-l6",)
    settings = ServerSettings(
        spaces=spaces,
        host=host,
        port=port,
        token=token,
        read_only_token=read_only_token,
        models=chosen,
        default_model=chosen[0],
        cors_origins=cors,
        workers=workers,
        recommenders=recommenders,
    )
    settings.check()
    click.echo(f"Serving on http://{host}:{port} (API docs: /docs). Ctrl-C stops.", err=True)
    serve(settings)


COMMANDS = [serve_command]
