"""VRT-only SFT vs VRT + VGR mixtures, same steps, on both generated benchmarks (VRT-Bench, ReasonSeg).

    nice -n 10 python benchmarks/mixture.py                         # 3 arms x 150 steps, tiny preset
    python benchmarks/mixture.py --steps 60 --n-train 64 --arms vrt,vgr-box

Generated data (`vrt data synth`): VRT-80k layout for masks, the VGR layout (boxes only, its regions
`<sot>[box]<eot>` become `<objN> [SEG]`), VRT-Bench and ReasonSeg layouts for evaluation. Arms, all
through the project's own trainer (`vrt train sft`, the tiny pipeline preset) and evaluator
(`vrt eval run`), same seed, same optimizer steps and global batch:

- `vrt`: VRT-80k alone;
- `vgr-text`: VRT-80k + VGR at --vgr-weight, VGR's [SEG] masks unsupervised (loss.box 0: its text
  trains the language model only), which separates "more reasoning text" from the box supervision;
- `vgr-box`: VRT-80k + VGR at --vgr-weight with the box projection loss (models/losses.py, BoxInst).

Prints one row per arm: VRT-Bench R-LQ / R-SQ / A-mIoU and ReasonSeg gIoU / cIoU (percent), and the
SFT wall time. Figures from a random-init tiny model are low; they are what they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.learning import _manifest_uri, _vrt

ARMS = ("vrt", "vgr-text", "vgr-box")
VRT_KEYS = ("R-LQ", "R-SQ", "A-mIoU")
REASONSEG_KEYS = ("gIoU", "cIoU")


def prepare_data(work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Generate the four raw layouts and prepare each into a canonical dataset."""
    raw, data = work / "raw", work / "data"
    _vrt(["data", "synth", "--out", str(raw), "--n-train", str(args.n_train), "--n-bench", str(args.n_bench),
          "--seed", str(args.seed)], work)
    for source in ("vrt-80k", "vgr", "vrt-bench", "reasonseg"):
        _vrt(["data", "prepare", "--source", source, "--from", str(raw / source), "--out", str(data / source)], work)
    return {source: data / source for source in ("vrt-80k", "vgr", "vrt-bench", "reasonseg")}


def text_only_preset(work: Path) -> Path:
    """The tiny model preset with the box projection loss off (VGR's masks get no supervision)."""
    preset = yaml.safe_load((ROOT / "models/presets/tiny.yaml").read_text())
    preset["loss"] = {**preset["loss"], "box": 0.0}
    path = work / "tiny-text-only.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


def train(arm: str, data: dict[str, Path], work: Path, args: argparse.Namespace) -> tuple[str, float]:
    """SFT of one arm; (model manifest URI, seconds)."""
    if arm == "vrt":
        sources = [f"sft.datasets=[{{uri: {data['vrt-80k']}, weight: 1.0}}]"]
    else:
        sources = [(f"sft.datasets=[{{uri: {data['vrt-80k']}, weight: 1.0}}, "
                    f"{{uri: {data['vgr']}, weight: {args.vgr_weight}}}]")]
    model = [f"model={text_only_preset(work)}"] if arm == "vgr-text" else []
    start = time.perf_counter()
    out = _vrt(["train", "sft", "--config", str(ROOT / "pipelines/presets/tiny.yaml"), "sft.dataset=", *sources,
                *model, f"sft.max_steps={args.steps}", f"sft.seed={args.seed}", f"sft.output={work / 'sft'}",
                f"sft.run_name={arm}",
                f"sft.checkpoint_every={args.steps}"], work)
    return _manifest_uri(out), time.perf_counter() - start


def evaluate(model: str, bench: str, data: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    _vrt(["eval", "run", "--model", model, "--bench", bench, "--data", str(data), "--out", str(out),
          "--max-new-tokens", str(args.max_new_tokens)], out.parent)
    return json.loads((out / "metrics.json").read_text())["metrics"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {', '.join(ARMS)}")
    ap.add_argument("--steps", type=int, default=150, help="SFT optimizer steps of every arm")
    ap.add_argument("--n-train", type=int, default=200, help="generated VRT-80k records (VGR: half as many)")
    ap.add_argument("--n-bench", type=int, default=32, help="generated VRT-Bench and ReasonSeg samples")
    ap.add_argument("--vgr-weight", type=float, default=0.5, help="VGR passes per mixture epoch")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="", help="work folder (default: a temporary one)")
    args = ap.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise SystemExit(f"unknown arm(s) {', '.join(unknown)}: choose from {', '.join(ARMS)}")
    with tempfile.TemporaryDirectory(prefix="vrt-mixture-") as tmp:
        work = Path(args.work or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        data = prepare_data(work, args)
        rows = []
        for arm in arms:
            model, seconds = train(arm, data, work, args)
            vrt = evaluate(model, "vrt-bench", data["vrt-bench"], work / f"eval-{arm}-vrt", args)
            rs = evaluate(model, "reasonseg", data["reasonseg"], work / f"eval-{arm}-reasonseg", args)
            rows.append((arm, [vrt[k] for k in VRT_KEYS] + [rs[k] for k in REASONSEG_KEYS], seconds))
            print(f"{arm}: done in {seconds:.0f} s of SFT", flush=True)
    header = f"{'arm':10s}" + "".join(f"{k:>9s}" for k in (*VRT_KEYS, *REASONSEG_KEYS)) + f"{'SFT s':>8s}"
    print(f"\n{args.steps} SFT steps each, n_train {args.n_train} (+{max(args.n_train // 2, 1)} VGR at weight "
          f"{args.vgr_weight}), {args.n_bench} samples per benchmark, seed {args.seed}")
    print(header)
    for arm, values, seconds in rows:
        cells = "".join(f"{'-' if v is None else f'{100 * v:.1f}':>9s}" for v in values)
        print(f"{arm:10s}{cells}{seconds:8.0f}")


if __name__ == "__main__":
    main()
