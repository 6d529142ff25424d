"""Reading local data files: csv, tsv, json, jsonl, parquet and txt, through `datasets`, checked for UTF-8."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}


def check_utf8(path: str | Path) -> None:
    """Fail with the line and byte of the first invalid UTF-8 sequence in a text file."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{line[err.start]:02x} at column {err.start + 1}); "
                    "re-save the file as UTF-8"
                ) from None


def load_files(files: dict[str, str], cache_dir=None):
    """Load `{split: path}` files of one format as a `DatasetDict` (tsv: tab-separated csv)."""
    from datasets import load_dataset

    suffixes = {Path(f).suffix.lower() for f in files.values()}
    for split, f in files.items():
        if Path(f).suffix.lower() not in _BUILDERS:
            raise UserError(f"{split} file {f}: unsupported extension; use one of {', '.join(sorted(_BUILDERS))}")
    if len({_BUILDERS[s] for s in suffixes}) > 1 or (".tsv" in suffixes and ".csv" in suffixes):
        raise UserError(f"train/validation/test files must share one format, got {sorted(suffixes)}")
    suffix = suffixes.pop()
    for f in files.values():
        if suffix != ".parquet":
            check_utf8(f)
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        return load_dataset(_BUILDERS[suffix], data_files=files, cache_dir=cache_dir, **kwargs)
    except Exception as err:  # datasets wraps parser errors in many types
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"could not read {', '.join(files.values())}: {msg}") from None
