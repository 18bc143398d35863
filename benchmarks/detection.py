"""Our detector against the field's references, at equal CPU time on the same scenes.

Rows, trained one after the other in this process, each for the same wall-clock budget
(`--minutes`; `train.max_time` with `schedule.follow_time`, so each cosine schedule ends in
budget) and the same torch threads, on the same synthetic scenes (`data/scenes.py`: train,
val and test scenes paste objects from disjoint pools):

- `detection-scenes`: ours, the anchor-free `yolo-n` (decoupled head, DFL + CIoU,
  task-aligned assignment);
- `detection-fcos`: torchvision's FCOS (head, assignment, losses, post-processing) from
  scratch on the same backbone, the reference;
- optional, with `--ultralytics-venv DIR`: Ultralytics YOLO11n built from `yolo11n.yaml`
  (random init, no pretrained weights). Ultralytics is AGPL-3.0: it runs in a throwaway
  virtual environment outside the project (it needs `opencv-python`, which clashes with our
  `opencv-python-headless`), as a subprocess of that environment's python; dllab never imports
  it. It trains with its own recipe (mosaic, SGD/AdamW auto, EMA) at our image size, except
  that horizontal flips are off (a mirrored digit is another glyph) and `time=` is the budget
  (`--ultralytics-arg KEY=VALUE` changes more). The venv is made and `pip install ultralytics`
  run only when DIR lacks it; training runs under `unshare -n` where allowed (no network), with
  YOLO_OFFLINE and no auto-install, and its settings file in a temp folder, not in $HOME.

Every row is scored the same way: its detections on the test scenes (score floor 0.001, NMS
IoU 0.6, 100 per image) go through our `DetectionMAP` (torchmetrics, pycocotools backend), so
mAP@0.5:0.95 and mAP@0.5 are COCO's for all of them; YOLO11n's own `val` number is kept
beside it. GFLOPs are FLOPs (2 x multiply-adds) of one 320 x 320 image counted by
`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products; element-wise
ops, activations and NMS are not counted), the same counter for every row. Latency is one
image (batch 1) at the size the model was trained at, forward plus decoding and NMS, the
median of `--repeats` runs after warm-up, on the same threads: eager PyTorch, and ONNX
Runtime through `dllab export` for our rows. Written to --out: detection.csv (one row per
model, with the load average when it finished) and detection.md; `--append` keeps the rows
already there (a row rerun later, its note says when).

    python benchmarks/detection.py [--minutes 20] [--threads 2] [--out benchmarks/results]
        [--models detection-scenes detection-fcos] [--ultralytics-venv DIR]
        [--ultralytics-arg KEY=VALUE…] [--seconds S] [--no-onnx] [--append] [key=value…]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from _cli import run_main  # benchmarks/_cli.py: user errors as one line
from _measure import gflops, median_ms  # benchmarks/_measure.py: FLOPs and latency

from dllab.config import load_recipe
from dllab.data.detection_formats import write_yolo
from dllab.errors import InputError
from dllab.experiment import build_task, load_trained, run_recipe
from dllab.tasks.detection import DetectionMAP

OURS = {"detection-scenes": "ours", "detection-fcos": "reference (torchvision FCOS)"}
FLOP_SIDE = 320  # GFLOPs are quoted at 320 x 320 for every row
FIELDS = [
    "model",
    "role",
    "licence",
    "params_m",
    "gflops_320",
    "image_size",
    "budget_s",
    "train_s",
    "steps",
    "test_map",
    "test_map_50",
    "own_val_map",
    "eager_ms",
    "onnx_ms",
    "load_1m",
    "note",
]


# ---------------------------------------------------------------- measuring a model
def latencies(
    run_dir: Path, repeats: int, threads: int, onnx: bool = True
) -> tuple[float, float | None, str]:
    """Eager and ONNX Runtime latency (ms) of one image: forward, decoding and NMS."""
    model, meta = load_trained(run_dir)
    s = meta["image_size"]
    x = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    post = {"conf": meta["conf"], "iou": meta["iou"], "max_det": meta["max_det"]}

    @torch.no_grad()
    def eager() -> None:
        model.detect(model(x), (s, s), **post)

    eager_ms = median_ms(eager, repeats)
    if not onnx:
        return eager_ms, None, "ONNX not measured (--no-onnx)"
    try:
        import onnxruntime as ort

        from dllab.deploy.export import export_onnx

        result = export_onnx(run_dir)
    except (ImportError, InputError) as exc:  # no deploy extra, or the export is refused
        return eager_ms, None, f"no ONNX: {str(exc)[:120]}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feed = {name: x.numpy()}

    @torch.no_grad()
    def runtime() -> None:
        model.detect(torch.from_numpy(session.run(None, feed)[0]), (s, s), **post)

    return eager_ms, median_ms(runtime, repeats), f"ONNX via {result.exporter}"


# ---------------------------------------------------------------- our two rows
def train_ours(recipe_name: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Train one of our recipes for the budget; its test mAP, size, cost and latency."""
    recipe = load_recipe(recipe_name, budget_overrides(args))
    run = run_recipe(recipe, run_dir=root / recipe_name, echo=lambda s: None, progress=False)
    summary = json.loads((run / "summary.json").read_text())
    load_1m = os.getloadavg()[0]
    model, meta = load_trained(run)
    eager_ms, onnx_ms, note = latencies(run, args.repeats, args.threads, not args.no_onnx)
    return {
        "model": recipe.model.name,
        "role": OURS[recipe_name],
        "licence": "ours (dllab)" if recipe_name == "detection-scenes" else "BSD-3 (torchvision)",
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "gflops_320": round(gflops(model, (FLOP_SIDE, FLOP_SIDE)), 3),
        "image_size": meta["image_size"],
        "budget_s": args.budget,
        "train_s": round(summary["train_seconds"], 1),
        "steps": summary["steps"],
        "test_map": round(summary["test"]["test/map"], 4),
        "test_map_50": round(summary["test"]["test/map_50"], 4),
        "own_val_map": "",
        "eager_ms": round(eager_ms, 2),
        "onnx_ms": "" if onnx_ms is None else round(onnx_ms, 2),
        "load_1m": round(load_1m, 2),
        "note": f"{summary['stop_reason']}; {note}",
    }


def budget_overrides(args: argparse.Namespace) -> list[str]:
    """The same budget, threads and scenes for every recipe, then the user's overrides."""
    return [
        f"train.max_time={args.budget}",
        "schedule.follow_time=true",
        f"train.threads={args.threads}",
        *args.overrides,
    ]


# ---------------------------------------------------------------- the optional YOLO11n row
# Runs inside the throwaway venv (its python, its torch): trains yolo11n.yaml from scratch,
# predicts the test images for our metric, validates with its own, counts FLOPs and times one
# image. Written to a temp file at run time because dllab must not ship an ultralytics import.
YOLO_WORKER = r"""
import json, statistics, sys, time
from pathlib import Path
cfg = json.loads(Path(sys.argv[1]).read_text())
import torch
torch.set_num_threads(cfg["threads"])
from ultralytics import YOLO
try:
    from ultralytics.utils.nms import non_max_suppression
except ImportError:  # ultralytics before 8.3.200 kept it in ops
    from ultralytics.utils.ops import non_max_suppression
out = Path(cfg["project"])
model = YOLO("yolo11n.yaml")  # the architecture file shipped in the package: random init
model.train(
    data=cfg["data"], epochs=10000, time=cfg["hours"], imgsz=cfg["imgsz"], batch=cfg["batch"],
    device="cpu", workers=0, pretrained=False, amp=False, plots=False, fliplr=0.0, seed=0,
    project=str(out), name="train", exist_ok=True, verbose=False, **cfg["extra"],
)
train_dir = out / "train"
weights = train_dir / "weights" / "best.pt"
if not weights.exists():
    weights = train_dir / "weights" / "last.pt"
best = YOLO(str(weights))
import csv
rows = list(csv.DictReader((train_dir / "results.csv").open()))
epochs = len(rows)
train_s = float(rows[-1].get("time", "nan")) if rows else float("nan")  # its training clock
own = best.val(data=cfg["data"], split="test", imgsz=cfg["imgsz"], batch=cfg["batch"],
               device="cpu", workers=0, plots=False, conf=0.001, iou=0.6, max_det=100,
               project=str(out), name="val", exist_ok=True, verbose=False)
preds = []
for path in cfg["test_images"]:
    r = best.predict(path, imgsz=cfg["imgsz"], conf=0.001, iou=0.6, max_det=100,
                     device="cpu", verbose=False)[0]
    preds.append({"boxes": r.boxes.xyxy.tolist(), "scores": r.boxes.conf.tolist(),
                  "labels": [int(c) for c in r.boxes.cls.tolist()]})
net = best.model.float().eval()
from torch.utils.flop_counter import FlopCounterMode
with torch.no_grad(), FlopCounterMode(display=False) as fc:
    net(torch.rand(1, 3, 320, 320))
s = cfg["imgsz"]
x = torch.rand(1, 3, s, s)
def step():
    with torch.no_grad():
        non_max_suppression(net(x), conf_thres=cfg["conf"], iou_thres=cfg["iou"], max_det=100)
for _ in range(5):
    step()
times = []
for _ in range(cfg["repeats"]):
    t = time.perf_counter(); step(); times.append((time.perf_counter() - t) * 1e3)
Path(cfg["result"]).write_text(json.dumps({
    "preds": preds, "own_map": float(own.box.map), "own_map_50": float(own.box.map50),
    "params": sum(p.numel() for p in net.parameters()), "flops": fc.get_total_flops(),
    "eager_ms": statistics.median(times), "epochs": epochs, "train_s": train_s,
    "torch": torch.__version__, "ultralytics": __import__("ultralytics").__version__,
}))
"""


def ensure_venv(venv: Path, env: dict[str, str]) -> Path:
    """`venv`'s python with ultralytics importable: the venv is made and filled if needed.
    `env` is the worker's, so even the import probe keeps its settings file out of $HOME."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making a throwaway venv for ultralytics (AGPL-3.0) in {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import ultralytics"], capture_output=True, env=env)
    if probe.returncode != 0:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ultralytics"], check=True)
    return python


def export_scenes(args: argparse.Namespace, root: Path) -> tuple[Path, list[str], Any]:
    """The recipe's train/val/test images written as a YOLO folder (the same scenes our rows
    render, from the same seeds); returns its data.yaml, the test image paths and the task."""
    task = build_task(load_recipe("detection-scenes", budget_overrides(args)))
    task.setup()
    for split in ("train", "val", "test"):
        images = task.images_[split].permute(0, 2, 3, 1).numpy()  # (N, S, S, 3) uint8
        targets = task.targets_[split]
        write_yolo(
            root,
            split,
            list(images),
            [t["boxes"].numpy() for t in targets],
            [t["labels"].numpy() for t in targets],
            task.classes,
        )
    data = root / "dataset.yaml"
    splits = {s: f"images/{s}" for s in ("train", "val", "test")}
    names = dict(enumerate(task.classes))
    data.write_text(yaml.safe_dump({"path": str(root), **splits, "names": names}), "utf-8")
    tests = sorted(str(p) for p in (root / "images" / "test").glob("*.png"))
    return data, tests, task


def extra_args(pairs: list[str]) -> dict[str, Any]:
    """`--ultralytics-arg warmup_epochs=0.3` pairs as train() keywords (YAML values)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--ultralytics-arg takes KEY=VALUE, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def offline_prefix() -> list[str]:
    """`unshare -n` (a process without network) where this user may make one, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def train_yolo11n(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """The YOLO11n row, or a row whose note says why it could not run."""
    row: dict[str, Any] = {f: "" for f in FIELDS}
    row.update(
        model="yolo11n (ultralytics)",
        role="optional: the field's standard",
        licence="AGPL-3.0 (not a dllab dependency)",
        budget_s=args.budget,
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "YOLO_CONFIG_DIR": str(root / "yolo-config"),  # its settings file, not in $HOME
        "YOLO_OFFLINE": "true",  # no hub, no update checks, no downloads
        "YOLO_AUTOINSTALL": "false",  # never pip-install a missing requirement
    }
    try:
        python = ensure_venv(args.ultralytics_venv.resolve(), env)
    except (subprocess.CalledProcessError, OSError) as exc:
        row["note"] = f"could not install ultralytics: {exc}"
        return row
    data, tests, task = export_scenes(args, root / "yolo-data")
    cfg = {
        "data": str(data),
        "hours": args.budget / 3600,
        "imgsz": task.size_,
        "batch": task.recipe.data.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "conf": task.options.show_conf,
        "iou": task.options.iou,
        "project": str(root / "yolo-runs"),
        "test_images": tests,
        "result": str(root / "yolo-result.json"),
        "extra": extra_args(args.ultralytics_arg),
    }
    (root / "yolo-cfg.json").write_text(json.dumps(cfg), encoding="utf-8")
    (root / "yolo_worker.py").write_text(YOLO_WORKER, encoding="utf-8")
    prefix = offline_prefix()
    log = root / "yolo.log"
    t = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        done = subprocess.run(
            [*prefix, str(python), str(root / "yolo_worker.py"), str(root / "yolo-cfg.json")],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
        )
    wall = time.perf_counter() - t
    load_1m = os.getloadavg()[0]
    if args.keep_yolo_log:
        shutil.copy(log, args.out / "detection-yolo11n.log")
    if done.returncode != 0:
        tail = " ".join(log.read_text(errors="replace").split()[-40:])
        row["note"] = f"ultralytics failed (exit {done.returncode}): {tail[-300:]}"
        return row
    got = json.loads((root / "yolo-result.json").read_text())
    metric = DetectionMAP()
    metric.update(
        [
            {
                "boxes": torch.tensor(p["boxes"], dtype=torch.float32).reshape(-1, 4),
                "scores": torch.tensor(p["scores"], dtype=torch.float32),
                "labels": torch.tensor(p["labels"], dtype=torch.long),
            }
            for p in got["preds"]
        ],
        task.targets_["test"],
    )
    ours = metric.compute()
    row.update(
        params_m=round(got["params"] / 1e6, 3),
        gflops_320=round(got["flops"] / 1e9, 3),
        image_size=task.size_,
        train_s=round(got["train_s"], 1),
        steps=f"{got['epochs']} epochs",
        test_map=round(float(ours["map"]), 4),
        test_map_50=round(float(ours["map_50"]), 4),
        own_val_map=round(got["own_map"], 4),
        eager_ms=round(got["eager_ms"], 2),
        load_1m=round(load_1m, 2),
        note=(
            f"ultralytics {got['ultralytics']}, torch {got['torch']}; "
            f"settings over its defaults: {cfg['extra'] or 'none'} (and fliplr=0); "
            f"{wall:.0f} s for the "
            "whole subprocess (training, test val, predict, timing); "
            f"{'no network (unshare -n)' if prefix else 'network not cut'}"
        ),
    )
    return row


# ---------------------------------------------------------------- report
def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        "| model | role | licence | params (M) | GFLOPs @320 | trained at | train s | steps | "
        "test mAP@.5:.95 | test mAP@.5 | its own val on test | eager ms | ONNX ms | load (1 min) |"
    )
    lines = [head, "|---" * 14 + "|"]
    for r in rows:
        cells = [r[f] for f in FIELDS[:-1] if f != "budget_s"]
        lines.append("| " + " | ".join(str(c) if c != "" else "-" for c in cells) + " |")
    notes = [f"- {r['model']}: {r['note']}" for r in rows if r["note"]]
    return (
        f"Detection on synthetic scenes, {args.budget:g} s of training per model on "
        f"{args.threads} torch thread(s), trained one after the other (an appended row later, "
        "as its note says); test mAP by our "
        "DetectionMAP (torchmetrics, pycocotools) for every row; GFLOPs by "
        "torch.utils.flop_counter.FlopCounterMode at 320x320; latency is batch 1 at the "
        "training size, forward + NMS, median. YOLO11n is Ultralytics' (AGPL-3.0), trained "
        "from yolo11n.yaml without pretrained weights in a separate venv; dllab never imports "
        f"it.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="training time per model")
    ap.add_argument("--seconds", type=float, help="training time per model (overrides minutes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50, help="timed runs per latency")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime latency")
    ap.add_argument("--models", nargs="*", default=list(OURS), choices=list(OURS))
    ap.add_argument("--ultralytics-venv", type=Path, help="throwaway venv for the YOLO11n row")
    ap.add_argument(
        "--ultralytics-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a YOLO11n train() setting over its defaults (repeat for more)",
    )
    ap.add_argument("--keep-yolo-log", action="store_true", help="copy its log to --out")
    ap.add_argument("--append", action="store_true", help="keep the rows already in --out")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("overrides", nargs="*", help="recipe overrides for every run")
    args = ap.parse_args()
    args.budget = args.seconds if args.seconds is not None else args.minutes * 60
    extra_args(args.ultralytics_arg)  # a malformed pair fails now, not after the other rows
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.append and (args.out / "detection.csv").exists():  # rows of an earlier run first
        with (args.out / "detection.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(name, lambda name=name: train_ours(name, args, Path(tmp))) for name in args.models]
        if args.ultralytics_venv is not None:
            jobs.append(("yolo11n", lambda: train_yolo11n(args, Path(tmp))))
        for name, job in jobs:
            rows.append(job())
            if args.append:
                finished = time.strftime("%H:%M", time.gmtime())
                rows[-1]["note"] += f"; appended run, finished {finished} UTC"
            print(f"{name}: {json.dumps(rows[-1])}", flush=True)
    with (args.out / "detection.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    text = markdown(rows, args)
    (args.out / "detection.md").write_text(text, encoding="utf-8")
    print(f"\n{text}\nwrote {args.out / 'detection.csv'}, {args.out / 'detection.md'}")


if __name__ == "__main__":
    run_main(main)
