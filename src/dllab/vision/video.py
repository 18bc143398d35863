"""Detection and tracking on video: decode, detect, suppress, track, draw, encode — timed.

`annotate_video(run_dir, src, dst)` is what `dllab predict RUN clip.mp4` runs: it rebuilds a
detection run's best model, reads `src` frame by frame with OpenCV, detects objects
(inference + NMS), follows them with the `Tracker`, draws boxes, class names and track ids,
writes `dst` and returns how long each stage took and the frames per second *end to end*
(every stage included, from the first decoded frame to the last written one).

Frames are resized (stretched) to the model's square input; boxes are scaled back, so the
annotated video keeps its own size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from dllab.errors import InputError
from dllab.vision.tracking import Tracker, TrackOutput

__all__ = [
    "Detect",
    "annotate_video",
    "annotate_with_model",
    "onnx_detector",
    "read_frames",
    "run_video",
    "torch_detector",
]

# (boxes (N, 4) xyxy in frame pixels, scores (N,), labels (N,)) for one RGB frame
Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def read_frames(src: str | Path) -> Iterator[np.ndarray]:
    """The frames of a video file as RGB uint8 (H, W, 3); InputError in one line when the
    file is missing or no frame can be decoded."""
    src = Path(src)
    if not src.is_file():
        raise InputError(f"video {src} not found")
    cap = cv2.VideoCapture(str(src))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise InputError(
                f"cannot decode {src} as a video (OpenCV read no frame); give an .mp4/.avi file"
            )
        while ok:
            yield frame[..., ::-1]  # OpenCV decodes BGR
            ok, frame = cap.read()
    finally:
        cap.release()


def torch_detector(model: nn.Module, meta: dict[str, Any], conf: float = 0.1) -> Detect:
    """A `Detect` that runs the PyTorch model: resize, scale to [0, 1], forward, decode + NMS
    (`model.detect`), boxes scaled back to the frame. `conf` is low on purpose: the tracker's
    second association uses the weak detections."""
    s = meta["image_size"]
    device = next(model.parameters()).device
    model.eval()
    detector = getattr(model, "module", model)

    @torch.no_grad()
    def detect(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = frame.shape[:2]
        x = cv2.resize(frame, (s, s), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(x).permute(2, 0, 1)[None].float().div_(255.0).to(device)
        (d,) = detector.detect(
            model(x), (s, s), conf=conf, iou=meta["iou"], max_det=meta["max_det"]
        )
        scale = np.array([w / s, h / s] * 2)
        return (
            d["boxes"].float().cpu().numpy() * scale,
            d["scores"].float().cpu().numpy(),
            d["labels"].cpu().numpy(),
        )

    return detect


def onnx_detector(onnx_path: str | Path, meta: dict[str, Any], conf: float = 0.1) -> Detect:
    """A `Detect` that runs an exported model (`dllab export`) in ONNX Runtime; decoding and
    NMS stay in PyTorch (`model.detect` of an untrained twin: decoding has no weights)."""
    import onnxruntime as ort

    from dllab.experiment import task_class

    s = meta["image_size"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    decoder = task_class(meta).model_from_metadata(meta).eval()

    def detect(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = frame.shape[:2]
        x = cv2.resize(frame, (s, s), interpolation=cv2.INTER_LINEAR)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        raw = torch.from_numpy(session.run(None, {name: x})[0])
        (d,) = decoder.detect(raw, (s, s), conf=conf, iou=meta["iou"], max_det=meta["max_det"])
        scale = np.array([w / s, h / s] * 2)
        return d["boxes"].numpy() * scale, d["scores"].numpy(), d["labels"].numpy()

    return detect


def _colour(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per track id (golden-ratio hues)."""
    hue = int((track_id * 0.618034 % 1.0) * 179)
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def draw_tracks(frame_bgr: np.ndarray, tracks: list[TrackOutput], classes: list[str]) -> None:
    """Boxes with "#id class score" drawn in place on a BGR frame."""
    for t in tracks:
        x1, y1, x2, y2 = (int(round(v)) for v in t.box)
        c = _colour(t.id)
        cv2.rectangle(frame_bgr, (x1, y1), (x2, y2), c, 1)
        text = f"#{t.id} {classes[t.label]} {t.score:.2f}"
        cv2.putText(frame_bgr, text, (x1, max(8, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, c, 1)


def run_video(
    detect: Detect,
    classes: list[str],
    src: str | Path,
    dst: str | Path | None,
    *,
    tracker: Tracker | None = None,
    fps_out: float | None = None,
) -> dict[str, Any]:
    """Run the pipeline over every frame of `src`, writing `dst` (None: draw but do not
    write, to time the rest). Returns frames, seconds per stage, end-to-end `fps`, the number
    of track ids given, and `tracks`: per frame, the (id, box, label) of each reported track.
    """
    tracker = tracker or Tracker()
    # The video is written beside `dst` under a temporary name and renamed when complete:
    # an interrupted run leaves no half-written file under the name a user would open.
    part = None if dst is None else Path(dst).with_name(f".{Path(dst).name}.part.mp4")
    seconds = dict.fromkeys(("decode", "detect", "track", "draw", "encode"), 0.0)
    per_frame: list[list[tuple[int, np.ndarray, int]]] = []
    writer, ids = None, set()
    frames = read_frames(src)
    start = time.perf_counter()
    try:
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            t1 = time.perf_counter()
            seconds["decode"] += t1 - t0
            if frame is None:
                break
            boxes, scores, labels = detect(frame)
            t2 = time.perf_counter()
            tracks = tracker.update(boxes, scores, labels)
            t3 = time.perf_counter()
            out = np.ascontiguousarray(frame[..., ::-1])
            draw_tracks(out, tracks, classes)
            t4 = time.perf_counter()
            if part is not None:
                if writer is None:
                    cap = cv2.VideoCapture(str(src))
                    rate = fps_out or cap.get(cv2.CAP_PROP_FPS) or 25.0
                    cap.release()
                    part.parent.mkdir(parents=True, exist_ok=True)
                    h, w = out.shape[:2]
                    writer = cv2.VideoWriter(
                        str(part), cv2.VideoWriter_fourcc(*"mp4v"), rate, (w, h)
                    )
                writer.write(out)
            t5 = time.perf_counter()
            for k, a, b in (
                ("detect", t1, t2),
                ("track", t2, t3),
                ("draw", t3, t4),
                ("encode", t4, t5),
            ):
                seconds[k] += b - a
            per_frame.append([(t.id, t.box, t.label) for t in tracks])
            ids.update(t.id for t in tracks)
    except BaseException:
        if writer is not None:
            writer.release()
            part.unlink(missing_ok=True)  # type: ignore[union-attr]
        raise
    if writer is not None:
        writer.release()
        os.replace(part, dst)  # type: ignore[arg-type]
    total = time.perf_counter() - start
    return {
        "frames": len(per_frame),
        "seconds": round(total, 4),
        "fps": len(per_frame) / total if total > 0 else 0.0,
        "stage_seconds": {k: round(v, 4) for k, v in seconds.items()},
        "tracks": len(ids),
        "per_frame": per_frame,
        "output": str(dst) if dst is not None else None,
    }


def annotate_with_model(
    model: nn.Module, meta: dict[str, Any], src: str | Path, dst: str | Path | None
) -> dict[str, Any]:
    """`run_video` with a trained PyTorch detector and its checkpoint metadata."""
    stats = run_video(torch_detector(model, meta), meta["classes"], src, dst)
    stats["backend"] = "pytorch-eager"
    stats["threads"] = torch.get_num_threads()
    return stats


def annotate_video(run_dir: str | Path, src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Annotate `src` into `dst` with a detection run's best model; the stats of `run_video`
    (without the per-frame tracks), e.g. `{"frames": 120, "fps": 41.3, ...}`."""
    from dllab.experiment import load_trained

    model, meta = load_trained(Path(run_dir))
    if meta.get("task") != "detection":
        raise InputError(f"{run_dir} is a {meta.get('task')!r} run; videos need a detection run")
    stats = annotate_with_model(model, meta, src, dst)
    stats.pop("per_frame")
    return stats
