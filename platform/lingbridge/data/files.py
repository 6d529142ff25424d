"""Reading local data files: csv, tsv, json, jsonl, parquet and txt, through `datasets`, checked for UTF-8.

Every way a file can be unusable (unreadable, empty, a header without rows, not UTF-8, not parseable)
is a `UserError` naming the file. `file_positions` maps each row back to where it is in its file, so
that a later error about a row names the line a user can open in an editor.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import UserError

_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}
LINE_COLUMN = "_line"  # the row's line in its file (csv, tsv, jsonl, txt)
ROW_COLUMN = "_row"  # the row's position in its source (1-based) where lines do not apply (json, parquet, the Hub)


def check_utf8(path: str | Path) -> None:
    """Fail with the line and byte of the first invalid UTF-8 sequence in a text file."""
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{line[err.start]:02x} at column {err.start + 1}); "
                    "re-save the file as UTF-8"
                ) from None


def _open(path: str | Path):
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, expected a data file") from None
    except OSError as err:  # PermissionError, a vanished file, an unreadable mount
        raise UserError(f"cannot read {path}: {err.strerror or type(err).__name__}") from None


def check_readable(split: str, path: str | Path) -> None:
    """The file opens and holds something besides whitespace (an empty file has no columns to name)."""
    with _open(path) as fh:
        chunk = fh.read(1 << 16)
        while chunk and not chunk.replace(b"\xef\xbb\xbf", b"").strip():
            chunk = fh.read(1 << 16)
    if not chunk:
        raise UserError(f"{split} file {path} is empty")


def _csv_record_lines(path: str | Path, delimiter: str) -> list[int] | None:
    """The line where each data record of a csv/tsv file starts (header and blank lines skipped, as pandas
    does); None when the file cannot be walked this way."""
    lines = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            previous_end = 0
            for record in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                if record and any(field.strip() for field in record):
                    lines.append(start)
    except (csv.Error, OSError, UnicodeDecodeError):
        return None
    return lines[1:]  # the first record is the header


def _nonblank_lines(path: str | Path) -> list[int]:
    with open(path, "rb") as fh:
        return [i for i, line in enumerate(fh, 1) if line.strip()]


def _all_lines(path: str | Path) -> list[int]:
    with open(path, "rb") as fh:
        return list(range(1, sum(1 for _ in fh) + 1))


def file_positions(path: str | Path, n_rows: int) -> tuple[str, list[int]]:
    """Where each of the `n_rows` rows read from `path` sits in the file.

    Returns `(LINE_COLUMN, line numbers)` for csv/tsv/jsonl/txt files when the rows can be matched to
    lines one to one, else `(ROW_COLUMN, 1..n_rows)`.
    """
    suffix = Path(path).suffix.lower()
    lines = None
    try:
        if suffix in (".csv", ".tsv"):
            lines = _csv_record_lines(path, "\t" if suffix == ".tsv" else ",")
        elif suffix == ".jsonl":
            lines = _nonblank_lines(path)
        elif suffix == ".txt":
            lines = _all_lines(path)
            if len(lines) != n_rows:
                lines = _nonblank_lines(path)
    except OSError:
        lines = None
    if lines is not None and len(lines) == n_rows:
        return LINE_COLUMN, lines
    return ROW_COLUMN, list(range(1, n_rows + 1))


def load_files(files: dict[str, str], cache_dir=None):
    """Load `{split: path}` files of one format as a `DatasetDict` (tsv: tab-separated csv).

    Raises:
        UserError: naming the file, when it cannot be read, is empty, has a header but no rows, is not
            UTF-8 (text formats) or cannot be parsed.
    """
    from datasets import load_dataset

    suffixes = {Path(f).suffix.lower() for f in files.values()}
    for split, f in files.items():
        if Path(f).suffix.lower() not in _BUILDERS:
            raise UserError(f"{split} file {f}: unsupported extension; use one of {', '.join(sorted(_BUILDERS))}")
    if len({_BUILDERS[s] for s in suffixes}) > 1 or (".tsv" in suffixes and ".csv" in suffixes):
        raise UserError(f"train/validation/test files must share one format, got {sorted(suffixes)}")
    suffix = suffixes.pop()
    for split, f in files.items():
        check_readable(split, f)
        if suffix != ".parquet":
            check_utf8(f)
        if suffix in (".csv", ".tsv") and _csv_record_lines(f, "\t" if suffix == ".tsv" else ",") == []:
            raise UserError(f"{split} file {f} has a header but no rows")
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    if suffix == ".csv" or suffix == ".tsv":
        kwargs["encoding"] = "utf-8-sig"  # a byte-order mark (Excel's "CSV UTF-8") is not part of the first column name
    import logging

    quiet = logging.getLogger("datasets")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # datasets logs the parser's error too: the user gets it once, from us
    try:
        dsd = load_dataset(_BUILDERS[suffix], data_files=files, cache_dir=cache_dir, **kwargs)
    except Exception as err:  # datasets wraps parser errors in many types
        msg = _first_line(err)
        if "corresponds to no data" in msg:  # datasets' words for a file without a single row
            raise UserError(f"{', '.join(files.values())}: no rows to read") from None
        raise UserError(f"could not read {', '.join(files.values())}: {msg}") from None
    finally:
        quiet.setLevel(level)
    for split, f in files.items():
        if split in dsd and len(dsd[split]) == 0:
            what = "a header but no rows" if suffix in (".csv", ".tsv") else "no rows"
            raise UserError(f"{split} file {f} has {what}")
    return dsd


def _first_line(err: Exception) -> str:
    while err.__cause__ is not None or (err.__context__ is not None and "generating the data" in str(err)):
        err = err.__cause__ or err.__context__  # datasets' "An error occurred while generating the data" wraps the parser's
    text = str(err).strip()
    if not text:
        return type(err).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."

