"""The options several commands share, each declared once as an ``Annotated`` alias, groups of them
(:class:`Network`, :class:`Runtime`, :class:`Hardware`) that a command decorated with :func:`grouped` takes
as one value, and the check of a folder option (:func:`checked_folder`).

A command's own options live next to it; what is here has the same flag and meaning everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from lookalike.errors import LookalikeError

WEIGHTS_HELP = (
    "Weights: a torchvision name (DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2; downloaded when online), a local "
    ".pt file (state dict or lookalike checkpoint), or 'none' for random weights"
)


def quiet_option(*decls: str, **settings: Any) -> Any:
    """``typer.Option`` that leaves the default out of ``--help``: its help says it, or there is none."""
    return typer.Option(*decls, show_default=False, **settings)


def weights_option(help: str, *, envvar: bool = False, show_default: bool = False) -> Any:
    """``--weights``/``-w`` with this command's ``help``; ``envvar`` also reads ``LOOKALIKE_WEIGHTS``."""
    return typer.Option(
        "--weights",
        "-w",
        envvar="LOOKALIKE_WEIGHTS" if envvar else None,
        show_default=show_default,
        help=help,
    )


# The weights of commands that embed images (default DEFAULT, or $LOOKALIKE_WEIGHTS).
WeightsOpt = Annotated[str, weights_option(WEIGHTS_HELP + ".", envvar=True, show_default=True)]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="resnet18/34/50/101/152; default: read from the weights file, else resnet18."
    ),
]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N; default: cuda if available.")]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="auto (float16 on CUDA; bfloat16 on CPUs that compute it in hardware — AMX or AVX-512 BF16 — "
        "for many images; else float32), float32, bfloat16 or float16."
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="What runs the network: auto (ONNX Runtime on the CPU in float32, PyTorch on CUDA and in "
        "bfloat16), onnx or torch."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
SizeOpt = Annotated[
    int | None, typer.Option(help="Input size (crop) override, e.g. 224 or 32; default: the weights' own.")
]
IndexOpt = Annotated[
    Path | None,
    quiet_option(
        "--index",
        "-i",
        help="The index folder; default: FOLDER/.lookalike (for search: .lookalike in the query's folder "
        "or the nearest folder above it).",
    ),
]
WorkersOpt = Annotated[int | None, quiet_option(help="Worker processes for decoding images.")]
ExcludeOpt = Annotated[
    list[str] | None,
    quiet_option(
        "--exclude",
        metavar="GLOB",
        help="Leave out the files and folders that match GLOB (repeatable): without a '/' a name at any "
        "depth ('*.tmp', 'drafts', 'IMG_*.PNG'), with one a path from FOLDER ('raw/**', '2023/*/thumbs'); "
        "case-sensitive; an excluded folder is not even listed. E.g. --exclude '*.tmp' --exclude 'raw/**'.",
    ),
]


def data_option(help: str) -> Any:
    """``--data``/``-d`` (a dataset) with this command's ``help``."""
    return quiet_option("--data", "-d", help=help)


def strict_option(what: str) -> Any:
    """``--strict``: exit with code 1 when ``what`` could not be read."""
    return typer.Option("--strict", help=f"Exit with code 1 when {what}.")


@dataclass(frozen=True)
class Network:
    """Which network embeds the images: ``--weights``, ``--model``, ``--size``."""

    weights: WeightsOpt = "DEFAULT"
    model: ModelOpt = None
    size: SizeOpt = None


@dataclass(frozen=True)
class Runtime:
    """Where the network runs and in what precision: ``--device``, ``--precision``."""

    device: DeviceOpt = None
    precision: PrecisionOpt = "auto"


@dataclass(frozen=True)
class Hardware(Runtime):
    """What runs the network and how: ``--device``, ``--precision``, ``--backend``."""

    backend: BackendOpt = "auto"


def checked_folder(folder: Path, *, what: str = "FOLDER") -> Path:
    """``folder``, once it is a folder; else the one-line error that names it as ``what`` (its argument or
    option), before any work starts."""
    if not folder.exists():
        raise LookalikeError(f"{what} {folder}: no such folder; pass a folder of images")
    if not folder.is_dir():
        raise LookalikeError(f"{what} {folder}: is a file, not a folder; pass a folder of images")
    return folder


def grouped(command: Callable[..., None]) -> Callable[..., None]:
    """Let ``command`` take options in groups: a parameter annotated with a dataclass stands, on the command
    line, for that dataclass's fields, each an option of its own (its ``Annotated`` type declares it, its
    default is the field's) in the parameter's place; ``command`` receives the dataclass built from them."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[Any, list[str]]] = {}
    for parameter in signature.parameters.values():
        group = parameter.annotation
        if not (isinstance(group, type) and dataclasses.is_dataclass(group)):
            parameters.append(parameter)
            continue
        types = typing.get_type_hints(group, include_extras=True)
        fields = dataclasses.fields(group)
        groups[parameter.name] = (group, [f.name for f in fields])
        parameters += [
            inspect.Parameter(f.name, parameter.kind, default=f.default, annotation=types[f.name])
            for f in fields
        ]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        for name, (group, names) in groups.items():
            values[name] = group(**{n: values.pop(n) for n in names})
        command(**values)

    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return run
