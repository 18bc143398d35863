"""Multi-object tracking by detection: a Kalman filter per object, IoU matching, and the
CLEAR-MOT count of identity switches.

The tracker follows SORT (Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016,
arXiv:1602.00763) with ByteTrack's two-stage association (Zhang et al., ECCV 2022,
arXiv:2110.06864):

1. every track's Kalman filter predicts its box in the new frame (constant velocity);
2. confident detections (score >= `high`) are matched to tracks by the Hungarian algorithm on
   IoU (pairs under `match_iou` are never matched);
3. tracks still unmatched get a second chance with the low-score detections (score in
   [`low`, `high`)), which are often the same objects half hidden behind another — this is
   what keeps an id through an occlusion;
4. unmatched confident detections start new tracks; a track unseen for `max_age` frames ends.

A track is reported once it has been matched `min_hits` times (or from its first frame in the
first `min_hits` frames of the video), so one-frame false positives do not get ids.

>>> tracker = Tracker()
>>> for boxes, scores, labels in detections_per_frame:            # doctest: +SKIP
...     for t in tracker.update(boxes, scores, labels):
...         print(t.id, t.box, t.label)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from dllab.vision.boxes import iou_matrix

__all__ = ["KalmanBox", "MOTCounts", "Tracker", "TrackOutput", "count_id_switches", "match"]


class KalmanBox:
    """Constant-velocity Kalman filter on a box (cx, cy, w, h) and its velocities.

    Noise scales with the box size, as ByteTrack's filter does, so a large object is allowed
    to move more pixels per frame than a small one.
    """

    POS_STD, VEL_STD = 1 / 20, 1 / 160  # per unit of box height

    def __init__(self, box: np.ndarray) -> None:
        self.x = np.r_[_xyxy_to_cxcywh(box), np.zeros(4)]  # (8,) state
        h = self.x[3]
        self.P = np.diag(np.r_[[2 * self.POS_STD * h] * 4, [10 * self.VEL_STD * h] * 4]) ** 2
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)  # position += velocity each frame
        self.H = np.eye(4, 8)

    def predict(self) -> np.ndarray:
        """Advance one frame; the predicted box xyxy."""
        h = max(self.x[3], 1.0)
        q = np.r_[[self.POS_STD * h] * 4, [self.VEL_STD * h] * 4] ** 2
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + np.diag(q)
        return self.box()

    def update(self, box: np.ndarray) -> None:
        """Correct the state with a measured box xyxy (the standard Kalman update)."""
        r = np.diag([self.POS_STD * max(self.x[3], 1.0)] * 4) ** 2
        s = self.H @ self.P @ self.H.T + r
        k = self.P @ self.H.T @ np.linalg.inv(s)  # (8, 4) gain
        self.x = self.x + k @ (_xyxy_to_cxcywh(box) - self.H @ self.x)
        self.P = (np.eye(8) - k @ self.H) @ self.P

    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        w, h = max(w, 1.0), max(h, 1.0)
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]])


def match(iou: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian matching on an IoU matrix (rows, cols): the matched pairs with IoU at least
    `threshold`, then the unmatched rows and the unmatched columns."""
    if iou.size == 0:
        return [], list(range(iou.shape[0])), list(range(iou.shape[1]))
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= threshold]
    used_r, used_c = {r for r, _ in pairs}, {c for _, c in pairs}
    return (
        pairs,
        [r for r in range(iou.shape[0]) if r not in used_r],
        [c for c in range(iou.shape[1]) if c not in used_c],
    )


@dataclass
class _Track:
    id: int
    kf: KalmanBox
    label: int
    score: float
    hits: int = 1
    missed: int = 0  # frames since the last match


@dataclass
class TrackOutput:
    """A track seen in the current frame."""

    id: int
    box: np.ndarray  # (4,) xyxy: the filter's corrected box
    label: int
    score: float


class Tracker:
    """SORT-style tracker with ByteTrack's second association on low-score detections."""

    def __init__(
        self,
        *,
        high: float = 0.5,  # detections this confident start and first match tracks
        low: float = 0.1,  # detections in [low, high) only extend existing tracks
        match_iou: float = 0.3,  # least IoU between a predicted box and its detection
        max_age: int = 30,  # frames a lost track is kept for re-identification
        min_hits: int = 2,  # matches before a track is reported
    ) -> None:
        self.high, self.low, self.match_iou = high, low, match_iou
        self.max_age, self.min_hits = max_age, min_hits
        self.tracks_: list[_Track] = []
        self.frame_ = 0
        self.next_id_ = 1

    def update(
        self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray
    ) -> list[TrackOutput]:
        """Feed one frame's detections (N, 4) xyxy, (N,), (N,); the tracks seen in it."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores, labels = np.asarray(scores).reshape(-1), np.asarray(labels).reshape(-1)
        self.frame_ += 1
        predicted = np.array([t.kf.predict() for t in self.tracks_]).reshape(-1, 4)
        high = np.flatnonzero(scores >= self.high)
        low = np.flatnonzero((scores >= self.low) & (scores < self.high))
        # 1. confident detections against every track
        pairs, lost, fresh = match(iou_matrix(predicted, boxes[high]), self.match_iou)
        matched = [(t, high[d]) for t, d in pairs]
        # 2. tracks left over against the low-score detections (half-hidden objects)
        pairs2, _, _ = match(iou_matrix(predicted[lost], boxes[low]), 0.5)
        matched += [(lost[t], low[d]) for t, d in pairs2]
        seen = []
        for t, d in matched:
            track = self.tracks_[t]
            track.kf.update(boxes[d])
            track.label, track.score = int(labels[d]), float(scores[d])
            track.hits, track.missed = track.hits + 1, 0
            seen.append(track)
        matched_tracks = {t for t, _ in matched}
        for i, track in enumerate(self.tracks_):
            if i not in matched_tracks:
                track.missed += 1
        # 3. confident detections nobody claimed start tracks
        for d in (high[j] for j in fresh):
            track = _Track(self.next_id_, KalmanBox(boxes[d]), int(labels[d]), float(scores[d]))
            self.next_id_ += 1
            self.tracks_.append(track)
            seen.append(track)
        self.tracks_ = [t for t in self.tracks_ if t.missed <= self.max_age]
        return [
            TrackOutput(t.id, t.kf.box(), t.label, t.score)
            for t in seen
            if t.hits >= self.min_hits or self.frame_ <= self.min_hits
        ]


# ---------------------------------------------------------------- evaluation
@dataclass
class MOTCounts:
    """CLEAR-MOT counts over a clip (Bernardin & Stiefelhagen, 2008)."""

    objects: int  # true boxes over all frames
    matches: int
    misses: int  # true boxes with no hypothesis
    false_positives: int  # hypotheses with no true box
    id_switches: int  # a true object matched to another id than the last time

    @property
    def mota(self) -> float:
        """1 - (misses + false positives + id switches) / objects."""
        errors = self.misses + self.false_positives + self.id_switches
        return 1.0 - errors / max(self.objects, 1)


def count_id_switches(
    true_ids: list[np.ndarray],
    true_boxes: list[np.ndarray],
    hyp_ids: list[np.ndarray],
    hyp_boxes: list[np.ndarray],
    *,
    iou: float = 0.5,
) -> MOTCounts:
    """Match hypotheses to true objects frame by frame as CLEAR-MOT does and count errors.

    A correspondence from the previous frame is kept while its IoU stays >= `iou`; the rest
    are matched by the Hungarian algorithm. An id switch is a true object matched to a
    different hypothesis id than the one it was last matched to.
    """
    last: dict[int, int] = {}  # true id -> hypothesis id it was last matched to
    counts = dict(objects=0, matches=0, misses=0, false_positives=0, id_switches=0)
    for tid, tb, hid, hb in zip(true_ids, true_boxes, hyp_ids, hyp_boxes, strict=True):
        tid, hid = np.asarray(tid).reshape(-1), np.asarray(hid).reshape(-1)
        ov = iou_matrix(tb, hb)
        pairs = []
        for i, t in enumerate(tid.tolist()):  # keep last frame's pairs that still overlap
            j = np.flatnonzero(hid == last.get(t, -1))
            if len(j) and ov[i, j[0]] >= iou:
                pairs.append((i, int(j[0])))
        rest_t = [i for i in range(len(tid)) if i not in {p for p, _ in pairs}]
        rest_h = [j for j in range(len(hid)) if j not in {q for _, q in pairs}]
        more, _, _ = match(ov[np.ix_(rest_t, rest_h)], iou)
        pairs += [(rest_t[a], rest_h[b]) for a, b in more]
        for i, j in pairs:
            t, h = int(tid[i]), int(hid[j])
            if t in last and last[t] != h:
                counts["id_switches"] += 1
            last[t] = h
        counts["objects"] += len(tid)
        counts["matches"] += len(pairs)
        counts["misses"] += len(tid) - len(pairs)
        counts["false_positives"] += len(hid) - len(pairs)
    return MOTCounts(**counts)
