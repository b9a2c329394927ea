"""``serve``: a local web page over an index."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.options import quiet_option
from lookalike.cli.render import err, print_line, shown
from lookalike.errors import LookalikeError

ServeFolderArg = Annotated[
    Path | None,
    typer.Argument(
        help="An indexed folder (or a folder inside one); default: the working folder.",
        show_default=False,
    ),
]
ServeIndexOpt = Annotated[
    Path | None, quiet_option("--index", "-i", help="The index folder, instead of FOLDER.")
]
HostOpt = Annotated[
    str,
    typer.Option(
        help="Address to listen on. 127.0.0.1 keeps the page to this machine; 0.0.0.0 shows your images "
        "to anyone who can reach it."
    ),
]
PortOpt = Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")]
MaxUploadOpt = Annotated[
    str, typer.Option("--max-upload", help="Largest image a visitor may upload, e.g. 20MB, 512K.")
]
OpenOpt = Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="LOOKALIKE_TOKEN",
        help="The token every /api request must carry (default: a random one, printed in the address).",
        show_default=False,
    ),
]
ServeMoveToOpt = Annotated[
    Path | None,
    quiet_option(
        "--move-to",
        help="Let the page move duplicates into this folder (outside the indexed folder; made if "
        "missing), logged so that the page or `lookalike dedup --undo LOG` puts them back. Without it the "
        "page moves nothing.",
    ),
]
ReadOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--read-only",
        help="Refuse every change (moves, keepers, not-duplicate decisions); search, compare and finding "
        "duplicates still work.",
    ),
]
NoTokenOpt = Annotated[
    bool,
    typer.Option(
        "--no-token", help="No token, for scripts on this machine (refused unless --host is loopback)."
    ),
]


def serve(
    folder: ServeFolderArg = None,
    index: ServeIndexOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    max_upload: MaxUploadOpt = "20MB",
    open_browser: OpenOpt = False,
    token: TokenOpt = None,
    no_token: NoTokenOpt = False,
    move_to: ServeMoveToOpt = None,
    read_only: ReadOnlyOpt = False,
) -> None:
    """Serve a local web page over an index: find look-alikes, compare two images, see duplicates.

    Drop or pick an image to see its nearest images with scores, click one to search from it; compare two
    images on pixels and features (L1, MSE, cosine, NCC); review near-duplicate groups side by side (zoom,
    swipe, difference map), change the file to keep, mark pairs that are not duplicates, and, with
    --move-to DIR, move the duplicates there and undo it; see what the index holds. The same features are
    a JSON API under /api (reference at /api/docs).
    Uploads stay in memory; images are served by id only, from inside the indexed folder. Every /api
    request needs the token printed in the address (the page keeps it in a cookie; scripts send
    Authorization: Bearer TOKEN), on loopback too.

    Example:

        lookalike index photos/ --weights models/resnet18-cifar10.pt

        lookalike serve photos/ --open

        lookalike serve photos/ --move-to photos-duplicates/

        curl -H "Authorization: Bearer $TOKEN" -F file=@cat.jpg 'http://127.0.0.1:8000/api/search?k=5'
    """
    from lookalike.web.server import missing_extra

    absent = missing_extra()
    if absent is not None:  # printed here: the error handler would read [web] as markup
        err.print(
            f"[bold red]error:[/] lookalike serve needs the web extra ({absent} is not installed); install "
            "it with: pip install 'lookalike\\[web]'",
            highlight=False,
        )
        raise typer.Exit(1)
    from lookalike.collection.location import find_index
    from lookalike.units import parse_bytes
    from lookalike.web.app import create_app
    from lookalike.web.server import allowed_hosts_for, is_loopback, listen, run, url_for

    limit = parse_bytes(max_upload, where="--max-upload")
    if no_token and not is_loopback(host):
        raise LookalikeError(
            f"--no-token would let anyone who can reach {host} see and change the indexed images; "
            "keep the token, or listen on 127.0.0.1"
        )
    if no_token and token is not None:
        raise LookalikeError("--token and --no-token cannot be combined; pass one of them")
    if token is not None and len(token) < 16:
        raise LookalikeError("--token must be at least 16 characters; leave it out for a random one")
    secret = None if no_token else token or secrets.token_urlsafe(24)
    location = index if index is not None else find_index(folder if folder is not None else Path())
    web_app = create_app(
        location,
        upload_limit=limit,
        allowed_hosts=allowed_hosts_for(host),
        token=secret,
        move_to=move_to,
        read_only=read_only,
    )
    sock = listen(host, port)
    images = web_app.state.collection.index.count
    address = url_for(sock) + (f"?token={secret}" if secret else "")
    print_line(
        f"serving {shown(Path(location))} ({images:,} images) at {address} · Ctrl+C to stop", wrap=False
    )
    review = web_app.state.lookalike.review
    if review.read_only:
        print_line("read-only: the page changes nothing", wrap=False)
    elif review.move_to is not None:
        print_line(f"the page moves duplicates into {shown(review.move_to)}", wrap=False)
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/] listening on {host}: anyone who can reach this machine and has the token "
            "can see the indexed images",
            highlight=False,
        )
    sys.stdout.flush()
    run(web_app, sock, open_browser=open_browser)
