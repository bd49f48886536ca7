"""Preset settings of the pipeline: defaults, overrides, and errors that say what to set."""

import pytest

from pipelines.settings import load_settings, preset_names
from vrt.cli.model_registry import GATE_DEFAULTS
from vrt.cli.pipeline import parse_params
from vrt.errors import UserError


def test_presets_present():
    assert preset_names() == ["2b", "4b", "4b-base", "8b", "tiny"]


def test_tiny_generates_data_and_overrides_apply():
    s = load_settings("tiny", {"data.n_train": 8, "work_uri": "s3://bucket/run"})
    assert (s.data.generated, s.data.n_train, s.data.n_bench, s.work_uri) == (True, 8, 16, "s3://bucket/run")


def test_real_presets_compile_without_a_revision_but_refuse_a_bad_one():
    assert load_settings("4b").data.revision == ""  # the run supplies it (--param revision=<sha>)
    with pytest.raises(UserError, match="is not a commit sha: pin the dataset revision"):
        load_settings("4b", {"data.revision": "main"})
    s = load_settings("4b", {"data.revision": "a" * 40})
    assert (s.data.generated, s.data.train_from) == (False, "hf://datasets/HarborYuan/VisualReasoningTracer")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.n_trian": 3}, "unknown key data.n_trian (did you mean n_train?)"),
        ({"epochs": 3}, "unknown pipeline parameter 'epochs'"),
        ({"data.n_train": 0}, "data.n_train and data.n_bench must be >= 1"),
        ({"launcher": "mpi"}, "launcher 'mpi' is unknown: use one of ray, none"),
    ],
)
def test_bad_overrides_say_what_to_set(overrides, message):
    with pytest.raises(UserError) as e:
        load_settings("tiny", overrides)
    assert str(e.value).startswith(message)


def test_tiny_trains_in_the_step_process_and_real_presets_on_ray():
    assert [load_settings(p).step_launcher for p in ("tiny", "4b")] == ["none", "ray"]
    assert load_settings("tiny", {"runtime": "kubernetes"}).step_launcher == "ray"  # a cluster runs RayJobs


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(UserError, match="unknown preset 'nope': choose one of 2b, 4b, 4b-base, 8b, tiny"):
        load_settings("nope")


def test_parse_params_types_values():
    assert parse_params(["data.n_train=8", "data.generated=false", "work_uri=s3://b/p"]) == {
        "data.n_train": 8,
        "data.generated": False,
        "work_uri": "s3://b/p",
    }
    with pytest.raises(UserError, match="is not key=value"):
        parse_params(["oops"])


def test_evaluate_budget_defaults_to_the_models():
    assert load_settings("tiny").evaluate.max_new_tokens == 0  # 0: the model preset's (2048 for real presets)
    with pytest.raises(UserError, match="evaluate.max_new_tokens and evaluate.limit >= 0"):
        load_settings("tiny", {"evaluate.max_new_tokens": -1})


def test_gate_over_both_benchmarks_from_the_preset_and_overrides():
    gate = load_settings("tiny").register.gate()
    assert (gate.primary, gate.margin, gate.guards) == (
        "vrt_bench/A-mIoU", 0.01, ("vrt_bench/R-LQ", "reasonseg/gIoU", "reasonseg/cIoU")
    )
    assert load_settings("4b").register.gate() == gate
    # `vrt model promote` gates the same way by default
    assert GATE_DEFAULTS == {"primary": gate.primary, "margin": gate.margin, "guards": gate.guard_spec(),
                             "tolerance": gate.tolerance}
    tighter = load_settings("tiny", {"register.guards.reasonseg.gIoU": 0.005}).register.gate()
    assert [tighter.tolerance_of(g) for g in tighter.guards] == [0.02, 0.005, 0.02]
    text = load_settings("tiny", {"register.guards": "vrt_bench/R-SQ=0.1,reasonseg/cIoU"}).register.gate()
    assert (text.guards, text.tolerance_of("reasonseg/cIoU")) == (("vrt_bench/R-SQ", "reasonseg/cIoU"), 0.02)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"register.primary": "A-mIoU"}, ("register: primary metric 'A-mIoU' names no benchmark: write "
                                         "<benchmark>/<metric> with benchmark one of vrt_bench, reasonseg")),
        ({"register.guards.reason_seg.gIoU": 0.02}, ("register: guards.reason_seg: unknown benchmark; use vrt_bench "
                                                    "or reasonseg")),
        ({"register.guards.reasonseg.giou": 0.02}, ("register: guard metric 'reasonseg/giou': ReasonSeg reports no "
                                                   "'giou'; use one of reasonseg/gIoU, reasonseg/cIoU")),
        ({"register.guards.reasonseg.gIoU": -0.1}, "register: reasonseg/gIoU must be a finite number >= 0"),
        ({"register.guards.reasonseg": 0.02}, ("register: guards.reasonseg is 0.02: set register.guards to "
                                              "{benchmark: {metric: allowed drop}}")),
        ({"register.guards": 3}, "register: guards is 3: set register.guards to"),
        ({"register.margin.x": 1}, "pipeline parameter 'register.margin.x': margin is not a mapping here"),
        ({"evaluate.reasonseg_empty": "skip"}, ("evaluate.reasonseg_empty: empty rule 'skip' is unknown: use one of "
                                               "one, drop")),
        ({"data.reasonseg_revision": "main"}, "data.reasonseg_revision 'main' is not a commit sha"),
    ],
)
def test_bad_gate_and_benchmark_settings_say_what_to_set(overrides, message):
    preset = "4b" if "data.reasonseg_revision" in overrides else "tiny"
    with pytest.raises(UserError) as e:
        load_settings(preset, overrides)
    assert str(e.value).startswith(message), str(e.value)


def test_presets_mix_vgr_into_sft():
    tiny, real = load_settings("tiny").data, load_settings("4b").data
    assert (tiny.mix_in.source, tiny.mix_in.weight, tiny.sft_weights) == ("vgr", 0.5, [1.0, 0.5])
    assert (real.mix_in.source, real.mix_in.from_uri, real.mix_in.revision, real.sft_weights) == (
        "vgr", "s3://vrt/raw/vgr", "", [1.0, 0.25])
    assert load_settings("tiny", {"data.mix_in": None}).data.sft_weights == [1.0]
    assert load_settings("tiny", {"data.mix_in.weight": 0.25}).data.sft_weights == [1.0, 0.25]


@pytest.mark.parametrize(
    "preset, mix_in, message",
    [
        ("tiny", {"source": "vrt-bench"}, "data.mix_in.source 'vrt-bench' must be one of vrt-80k, vgr other than"),
        ("tiny", {"source": "vrt-80k"}, "data.mix_in.source 'vrt-80k' must be one of vrt-80k, vgr other than vrt-80k"),
        ("tiny", {"source": "vgr", "weight": 0}, "data.mix_in.weight 0 must be a positive number"),
        ("tiny", {"source": "vgr", "weight": True}, "data.mix_in.weight True must be a positive number"),
        ("tiny", {"source": "vgr", "from": "x"}, "data.mix_in.from/revision are for real sources"),
        ("tiny", {"source": "vgr", "wieght": 1}, "data.mix_in={'source': 'vgr', 'wieght': 1}: write {source: vgr"),
        ("tiny", "vgr", "data.mix_in='vgr': write {source: vgr"),
        ("4b", {"source": "vgr"}, "data.mix_in.from is empty: give the raw source's folder"),
        ("4b", {"source": "vgr", "from": "s3://b/vgr", "revision": "main"}, "data.mix_in.revision 'main' is not a"),
    ],
)
def test_bad_mix_in_says_what_to_set(preset, mix_in, message):
    with pytest.raises(UserError) as e:
        load_settings(preset, {"data.mix_in": mix_in})
    assert str(e.value).startswith(message)


def test_bad_train_weight():
    with pytest.raises(UserError, match="data.train_weight -1 must be a positive number"):
        load_settings("tiny", {"data.train_weight": -1})
