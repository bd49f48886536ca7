"""`vrt data synth/prepare/inspect` through the CLI entry point; bad input exits 2 with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vrt.cli.main import main


def _run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_synth_prepare_inspect_render(tmp_path, capsys):
    raw, ds, pics = tmp_path / "raw", tmp_path / "ds", tmp_path / "pics"
    main(
        [
            "data",
            "synth",
            "--out",
            str(raw),
            "--n-train",
            "6",
            "--n-bench",
            "4",
            "--seed",
            "3",
            "--image-size",
            "48",
        ]
    )
    main(["data", "prepare", "--source", "vrt-bench", "--from", str(raw / "vrt-bench"), "--out", str(ds)])
    assert "published" in capsys.readouterr().err
    main(["data", "inspect", str(ds), "--samples", "2", "--render", "2", "--out", str(pics)])
    out = capsys.readouterr().out
    assert "counts    input 4  written 4  quarantined 0" in out
    assert out.count("  question : ") == 2
    pngs = sorted(pics.glob("*.png"))
    assert [p.name for p in pngs] == ["000_bench-0000.png", "001_bench-0001.png"]
    img = np.array(Image.open(pngs[0]))
    assert img.shape == (384, 384, 3)  # 48 px enlarged 8x
    assert json.loads((ds / "manifest.json").read_text())["counts"]["written"] == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["data", "prepare", "--source", "vgr", "--from", "/no/such/dir", "--out", "OUT"],
            "--from /no/such/dir does not exist",
        ),
        (["data", "prepare", "--source", "coco", "--from", ".", "--out", "OUT"], "source must be one of"),
        (
            ["data", "prepare", "--source", "vgr", "--from", "hf://datasets/a/b", "--out", "OUT"],
            "needs --revision",
        ),
        (["data", "inspect", "OUT"], "is not a published dataset"),
        (["data", "inspect", "OUT", "--render", "2"], "--render needs --out"),
        (["data", "synth", "--out", "OUT", "--image-size", "8"], "at least 32 pixels"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    _run([a.replace("OUT", str(tmp_path / "out")) for a in argv])
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_wrong_format_names_the_file(tmp_path, capsys):
    (tmp_path / "ver_training_00000.tfrecord").write_bytes(b"PK\x03\x04 this is a zip")
    _run(["data", "prepare", "--source", "vrt-80k", "--from", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert f"{tmp_path}/ver_training_00000.tfrecord is not a TFRecord file" in err
    assert not (tmp_path / "o" / "manifest.json").exists()
