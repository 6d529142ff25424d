"""Issue 11, item 1: a run never deletes or replaces what lingbridge did not make.

`--overwrite_output_dir` replaces only a finished run directory (it has `lingbridge_run.json`) or an empty
folder; `<run>.partial` is replaced only when it carries lingbridge's marker. The current directory, the
home directory and their parents are never a run directory. Each case puts real user files in a temporary
folder and checks them byte for byte afterwards. The recipe cases run `main` in-process: they stop in the
run-directory check, before any data or model is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lingbridge.errors import UserError
from lingbridge.runs import WORK_MARKER, RunDir, check_run

from conftest import config


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every folder (and link) under `folder`, by relative path."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = f"<link {os.readlink(path)}>"
        elif path.is_dir():
            out[rel] = "<dir>"
        else:
            out[rel] = path.read_bytes()
    return out


def user_files(folder: Path) -> Path:
    """A folder as a user keeps it: a thesis, photos, a finished lingbridge run among them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.txt").write_text("Chapter 1\nMy results, four years of work.\n", encoding="utf-8")
    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    (photos / "holiday.jpg").write_bytes(bytes(range(256)) * 8)
    run = folder / "runs" / "sentiment"
    run.mkdir(parents=True, exist_ok=True)
    (run / "lingbridge_run.json").write_text('{"job": "finetune_classification"}', encoding="utf-8")
    (run / "model.safetensors").write_bytes(b"\x00weights")
    return folder


def args(overwrite=False, resume=False):
    import types

    return types.SimpleNamespace(overwrite_output_dir=overwrite, resume=resume)


def out(path) -> object:
    import types

    return types.SimpleNamespace(output_dir=str(path))


def refused(path, overwrite=True, resume=False) -> str:
    with pytest.raises(UserError) as err:
        check_run("finetune_classification", args(overwrite, resume), out(path))
    message = str(err.value)
    assert "\n" not in message
    return message


# ---- the folders that are never a run directory --------------------------------------------------------


def test_current_directory_is_refused(tmp_path, monkeypatch):
    home = user_files(tmp_path / "work")
    monkeypatch.chdir(home)
    before = snapshot(home)
    for given in (".", str(home), "./", "photos/.."):
        assert "current directory" in refused(given)
    assert snapshot(home) == before


def test_home_and_parents_are_refused(tmp_path, monkeypatch):
    home = user_files(tmp_path / "home" / "me")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert "home directory" in refused(home)
    assert "parent of your home directory" in refused(home.parent)
    work = tmp_path / "home" / "me" / "project" / "src"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert "parent of the current directory" in refused(work.parent)
    assert "parent of the current directory" in refused("..")
    assert snapshot(tmp_path) == {**before, "home/me/project": "<dir>", "home/me/project/src": "<dir>"}


def test_lingbridge_installation_folder_is_refused(tmp_path, monkeypatch):
    import lingbridge

    monkeypatch.chdir(tmp_path)
    package = Path(lingbridge.__file__).resolve().parent
    assert "installed" in refused(package)
    assert "installed" in refused(package.parent)


# ---- folders the user made --------------------------------------------------------------------------------


def test_user_folder_is_never_replaced_and_the_message_offers_no_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    docs = user_files(tmp_path / "docs")
    before = snapshot(tmp_path)
    for overwrite in (False, True):
        message = refused(docs, overwrite=overwrite)
        assert "not a lingbridge run directory" in message and "--overwrite_output_dir" not in message
    assert snapshot(tmp_path) == before


def test_a_file_as_output_dir_and_a_file_on_the_way_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me", encoding="utf-8")
    assert "is a file" in refused(notes)
    assert "is a file, not a folder" in refused(notes / "run")
    assert notes.read_text(encoding="utf-8") == "keep me"


def test_symbolic_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    docs = user_files(tmp_path / "docs")
    (tmp_path / "latest").symlink_to(docs / "runs" / "sentiment")
    before = snapshot(tmp_path)
    assert "symbolic link" in refused(tmp_path / "latest")
    assert snapshot(tmp_path) == before


def test_foreign_partial_folder_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_files(tmp_path / "results.partial")  # the user's own folder that happens to end in .partial
    before = snapshot(tmp_path)
    for overwrite, resume in ((False, False), (True, False), (False, True), (True, True)):
        message = refused(tmp_path / "results", overwrite, resume)
        assert "not an unfinished lingbridge run" in message and "--overwrite_output_dir" not in message
    assert snapshot(tmp_path) == before


# ---- what may be replaced ---------------------------------------------------------------------------------


def test_existing_run_is_refused_without_the_flag_and_replaced_with_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_path = user_files(tmp_path / "docs") / "runs" / "sentiment"
    message = refused(run_path, overwrite=False)
    assert "already exists (a finished run)" in message and "--overwrite_output_dir" in message
    run = check_run("x", args(overwrite=True), out(run_path))
    run.prepare()
    assert (run.work / WORK_MARKER).is_file()
    (run.work / "model.safetensors").write_bytes(b"new")
    (run.work / "lingbridge_run.json").write_text('{"job": "x"}', encoding="utf-8")
    run.finalize()
    assert (run_path / "model.safetensors").read_bytes() == b"new" and not run.work.exists()
    assert not (run_path / WORK_MARKER).exists()
    assert not list(run_path.parent.glob(".sentiment.replaced-*"))


def test_empty_folder_is_used_without_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = check_run("x", args(), out(empty))
    run.prepare()
    (run.work / "lingbridge_run.json").write_text('{"job": "x"}', encoding="utf-8")
    assert run.finalize() == empty and (empty / "lingbridge_run.json").is_file()


def test_files_written_into_the_folder_during_the_run_are_kept(tmp_path, monkeypatch):
    """The final rename checks again: a user file that appeared meanwhile is never deleted."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    run = check_run("x", args(overwrite=True), out(target))
    run.prepare()
    (run.work / "lingbridge_run.json").write_text('{"job": "x"}', encoding="utf-8")
    (target / "draft.md").write_text("written while the run trained", encoding="utf-8")
    with pytest.raises(UserError, match="the finished run is kept in"):
        run.finalize()
    assert (target / "draft.md").read_text(encoding="utf-8") == "written while the run trained"
    assert (run.work / "lingbridge_run.json").is_file()


def test_own_partial_folder_needs_resume_or_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = check_run("x", args(), out(tmp_path / "run"))
    first.prepare()
    (first.work / "checkpoint-5").mkdir()
    message = refused(tmp_path / "run", overwrite=False)
    assert "--resume" in message and "checkpoints are deleted" in message
    assert check_run("x", args(resume=True), out(tmp_path / "run")).work == first.work
    again = check_run("x", args(overwrite=True), out(tmp_path / "run"))
    again.prepare()
    assert not (again.work / "checkpoint-5").exists() and (again.work / WORK_MARKER).is_file()


def test_unmarked_partial_with_checkpoints_can_be_resumed_not_deleted(tmp_path, monkeypatch):
    """An unfinished run of an older lingbridge (no marker) is resumable, but never deleted."""
    monkeypatch.chdir(tmp_path)
    legacy = tmp_path / "old.partial"
    (legacy / "checkpoint-10").mkdir(parents=True)
    (legacy / "checkpoint-10" / "model.safetensors").write_bytes(b"w")
    before = snapshot(tmp_path)
    refused(tmp_path / "old", overwrite=True)
    run = check_run("x", args(resume=True), out(tmp_path / "old"))
    run.prepare()
    assert snapshot(tmp_path)["old.partial/checkpoint-10/model.safetensors"] == b"w"
    assert set(snapshot(tmp_path)) == set(before) | {f"old.partial/{WORK_MARKER}"}


def test_rundir_prepare_refuses_a_folder_that_appeared_after_the_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = RunDir("x", str(tmp_path / "run"), overwrite=True)
    run.check()
    user_files(run.work)  # a user folder appears at the working folder's path
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="not an unfinished lingbridge run"):
        run.prepare()
    assert snapshot(tmp_path) == before


# ---- through a recipe, as the user ran it ---------------------------------------------------------


@pytest.mark.parametrize("output_dir", [".", "docs"])
def test_recipe_with_overwrite_refuses_user_folders(output_dir, tmp_path, monkeypatch, capsys):
    from lingbridge.recipes import finetune_classification

    work = user_files(tmp_path / "work")
    user_files(work / "docs")
    monkeypatch.chdir(work)
    before = snapshot(work)
    with pytest.raises(SystemExit) as stop:
        finetune_classification.main(["--config", config("finetune_classification"), "--output_dir", output_dir,
                                       "--overwrite_output_dir", "--max_steps", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "--overwrite_output_dir" not in lines[0]
    assert snapshot(work) == before
