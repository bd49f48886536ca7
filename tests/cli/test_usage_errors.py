"""`vrt` usage and environment errors: one line on stderr, printed literally, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vrt.cli.main import main, version


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch"], "error: No such command 'nosuch'. (see `vrt --help`)"),
        (["data", "synth", "--bogus"], "No such option: --bogus"),
        (["data", "synth"], "error: Missing option '--out'. (see `vrt data synth --help`)"),
        (["data", "synth", "--out", "x", "--image-size", "abc"], "Invalid value for '--image-size'"),
        (["data", "synth", "--out", "x", "--image-size", "5000"], "less than or equal to 4096"),
        (["data", "synth", "--out", "x", "--image-size", "8"], "image_size must be at least 32 pixels"),
        (["data", "synth", "--out", "x", "--n-train", "0"], "'--n-train': Input should be greater than"),
        (["data", "synth", "--out", "x", "--seed"], "Option '--seed' requires an argument."),
        (
            ["serve", "--port", "70000", "--model", "x"],
            "'--port': Input should be less than or equal to 65535",
        ),
        (["serve", "--port", "0", "--model", "x"], "'--port': Input should be greater than or equal to 1"),
        (["serve"], "--model is required"),
        (["model", "show"], "Missing argument 'name'."),
        (["pipeline", "run", "--local", "--param", "a=[b"], "error: invalid YAML:"),
        (["pipeline", "run", "--local", "--param", "novalue"], "is not key=value"),
        (
            ["data", "inspect", "/nonexistent/[red]x[/red]"],
            "/nonexistent/[red]x[/red]/manifest.json not found",
        ),
        (["eval", "score", "--bogus"], "No such option: --bogus"),
        (["train", "sft", "--config", "bad.yaml"], "bad.yaml is not valid YAML at line 3, column 1: expected"),
        (["train", "sft", "--config", "tiny", "sft.lr=[1"], "override 'sft.lr=[1' is not valid YAML"),
        (["train", "sft", "--config", "tiny", "sft.lr=.nan"], "sft.lr must be a finite number, got nan"),
        (["train", "grpo", "--config", "tiny", "run_name=../x"], "grpo.run_name='../x' must be a plain name"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("model: tiny\nsft: [oops\n")
    code, out, err = run(argv, capsys)
    assert (code, err.count("\n"), err.startswith("error: "), message in err) == (2, 1, True, True), err
    assert "Traceback" not in err + out


def test_out_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run(["data", "synth", "--out", str(blocker), "--n-train", "1", "--n-bench", "1"], capsys)
    assert (code, err) == (2, f"error: Not a directory: {blocker}/vrt-80k\n")


def test_unreachable_pipeline_host(capsys):
    code, _, err = run(["pipeline", "submit", "--host", "http://127.0.0.1:1", "--preset", "tiny"], capsys)
    assert (code, err.count("\n"), err.startswith("error: "), "127.0.0.1" in err) == (2, 1, True, True), err


def test_version_and_bare_help(capsys):
    assert run(["--version"], capsys)[:2] == (0, f"vrt {version()}\n")
    code, out, err = run([], capsys)
    assert (code, "Usage: vrt [OPTIONS] COMMAND" in out, err) == (0, True, "")
    code, out, _ = run(["data"], capsys)
    assert (code, "Usage: vrt data [OPTIONS] COMMAND" in out) == (0, True)


def test_console_script_has_no_traceback():
    """The module entry point (what the `vrt` script runs) end to end in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "vrt.cli.main", "train", "--nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr.count("\n"), "No such option: --nope" in done.stderr) == (2, 1, True)
