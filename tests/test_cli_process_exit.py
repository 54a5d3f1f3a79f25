"""The real `gesso` process ends without the interpreter's teardown, and loses nothing by it: the
output reaches a pipe, the files are written, the exit status is the command's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from gesso.cli.process_exit import exit_status, exit_without_teardown


def gesso(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m gesso.cli ARGS` with stdout block-buffered, as in a user's shell."""
    env = {name: value for name, value in env.items() if name != "PYTHONUNBUFFERED"}
    command = [sys.executable, "-m", "gesso.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_generate_in_a_real_process_prints_the_path_of_a_written_file(tiny_pipeline_dir, tmp_path):
    env = {**os.environ, "GESSO_MODELS_DIR": str(tiny_pipeline_dir.parent),
           "GESSO_DATA_DIR": str(tmp_path)}
    done = gesso("generate", "red circle", "--model", "tiny", "--steps", "2", "--seed", "3",
                 "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "out" / "red-circle_3.png")]
    assert (tmp_path / "out" / "red-circle_3.png").stat().st_size > 0


def test_output_written_straight_to_stdout_reaches_the_pipe(tmp_path):
    """`audit export` writes records with sys.stdout.write, not echo: the exit must flush them."""
    env = {**os.environ, "GESSO_DATA_DIR": str(tmp_path)}
    assert gesso("tenants", "create", "acme", env=env).returncode == 0
    done = gesso("audit", "export", env=env)
    assert done.returncode == 0, done.stderr
    assert '"action": "tenant.created"' in done.stdout and done.stderr == "1 records\n"


def test_a_bad_input_keeps_exit_2_and_its_one_line(tmp_path):
    env = {**os.environ, "GESSO_DATA_DIR": str(tmp_path)}
    done = gesso("data", "validate", str(tmp_path / "missing"), env=env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), ("stopped", 1)])
def test_exit_status_is_the_one_sys_exit_gives(code, status, capsys):
    assert exit_status(code) == status
    assert capsys.readouterr().err == ("stopped\n" if code == "stopped" else "")


def test_a_running_thread_keeps_the_ordinary_exit():
    """With another thread alive the process must wait for it, so this raises SystemExit."""
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as exited:
            exit_without_teardown(3)
        assert exited.value.code == 3
    finally:
        release.set()
        worker.join()
