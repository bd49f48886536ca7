"""`vrt model info`: parameter counts per tower, computed on the meta device."""

from __future__ import annotations

import json

import pytest

from models import load_preset
from models.params import count_parameters
from vrt.cli.main import main


def _by_name(preset: str) -> dict[str, tuple[int, int]]:
    return {c.name: (c.total, c.trainable) for c in count_parameters(load_preset(preset))}


def test_tiny_counts_match_the_real_model(tiny_model):
    counts = _by_name("tiny")
    assert sum(t for t, _ in counts.values()) == sum(p.numel() for p in tiny_model.parameters())
    assert sum(t for _, t in counts.values()) == sum(p.numel() for p in tiny_model.trainable_parameters())
    assert counts["projection"] == (64 * 64 + 64 + 64 * 64 + 64,) * 2


def test_paper_4b_counts():
    counts = _by_name("4b")
    # Qwen3-VL-4B: 4.44B (vision 0.415B + Qwen3-4B LLM 4.02B); LoRA r=128 on 36 layers adds 264.2M
    lora = 36 * 128 * ((2560 + 4096) * 2 + (2560 + 1024) * 2 + (2560 + 9728) * 3)
    assert lora == 264_241_152
    assert counts["vision"] == (415_347_712, 0)
    # Sa2VA's untied lm_head adds a vocabulary x hidden matrix; embeddings and lm_head stay frozen
    assert counts["llm"] == (4_022_468_096 + 151936 * 2560 + lora, lora)
    assert counts["projection"] == (2560 * 2560 + 2560 + 2560 * 256 + 256,) * 2
    assert counts["sam_encoder"][1] == 0 and counts["sam_encoder"][0] == 212_703_536


def test_cli_json(capsys):
    main(["model", "info", "--preset", "tiny", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["preset"] == "tiny" and data["total"] == sum(v["total"] for v in data["towers"].values())
    assert set(data["towers"]) == {"vision", "llm", "sam_encoder", "mask_decoder", "projection"}


def test_cli_table(capsys):
    main(["model", "info", "--preset", "8b"])
    out = capsys.readouterr().out
    assert "R-Sa2VA preset 8b (pretrained init)" in out and "9.35B" in out


def test_cli_unknown_preset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "info", "--preset", "huge"])
    assert exit_info.value.code == 2
    assert "unknown model preset 'huge'; valid presets: 2b, 4b, 4b-base, 8b, tiny" in capsys.readouterr().err
