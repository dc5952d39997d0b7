"""Existence from sensor coverage, published output, two-stage score association, velocity at confirmation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.classes import SENSOR_BEV, SENSOR_LIDAR, ObjectClass
from sensor_fusion.tracking.coverage import SensorView, detection_probability
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig
from tests.tracking.test_tracker import DT_NS, dets

FRONT = SensorView(SENSOR_LIDAR, (0.0, 0.0), 0.0, math.radians(45.0), 80.0, 1.0)  # a 90-degree sector


def test_detection_probability_in_and_out_of_view() -> None:
    xy = np.array([[20.0, 0.0], [20.0, 30.0], [-20.0, 0.0], [90.0, 0.0], [70.0, 0.0], [0.5, 0.0]])
    pd = detection_probability(xy, np.full(6, 2.0), [FRONT], {SENSOR_LIDAR: 0.9}, {SENSOR_LIDAR: 70.0})
    assert pd[0] == pytest.approx(0.9, abs=0.02)  # close, in plain view
    assert pd[1] == pd[2] == pd[3] == pd[5] == 0.0  # outside the sector, behind, beyond, too close
    assert pd[4] == pytest.approx(0.45)  # halved at range50
    # a sensor without a detection probability gives no miss evidence; two sensors miss independently
    assert detection_probability(xy[:1], np.ones(1), [FRONT], {}, {})[0] == 0.0
    both = [FRONT, SensorView(SENSOR_BEV, (0.0, 0.0), 0.0, math.pi, 50.0)]
    p2 = detection_probability(xy[:1], np.ones(1), both, {SENSOR_LIDAR: 0.9, SENSOR_BEV: 0.5}, {})
    assert p2[0] == pytest.approx(1.0 - 0.1 * 0.5)


def test_occluded_track_is_less_likely_detected() -> None:
    xy = np.array([[10.0, 0.0], [30.0, 0.2], [30.0, 15.0]])  # the second hides behind the first
    radius = np.full(3, 2.4)
    args = ([FRONT], {SENSOR_LIDAR: 0.9}, {SENSOR_LIDAR: math.inf}, np.ones(3, bool))
    pd = detection_probability(xy, radius, *args, occlusion_drop=0.7)
    assert pd[0] == pytest.approx(0.9) and pd[2] == pytest.approx(0.9)
    assert pd[1] == pytest.approx(0.9 * 0.3)


def _confirmed_track(cfg: TrackerConfig, y: float = 0.0) -> tuple[Tracker, int]:
    tracker = Tracker(cfg)
    k = 0
    for k in range(10):
        tracker.step(k * DT_NS, dets(k * DT_NS, [[20.0, y]]), [FRONT])
    assert tracker.num_tracks == 1 and tracker._t.confirmed.all()
    return tracker, k + 1


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_miss_costs_what_the_sensor_could_see(where: str) -> None:
    """Out of view: only the slow unseen decay; in plain view: log(1 - Pd) on the first miss."""
    cfg = TrackerConfig()
    tracker, k = _confirmed_track(cfg)
    before = float(tracker._t.logit[0])
    behind = SensorView(SENSOR_LIDAR, (0.0, 0.0), math.pi, math.radians(45.0), 80.0)
    view = behind if where == "outside" else FRONT
    tracker.step(k * DT_NS, dets(k * DT_NS, np.zeros((0, 2))), [view])
    lost = before - float(tracker._t.logit[0])
    if where == "outside":
        assert lost == pytest.approx(cfg.existence_unseen_logodds_per_s * 0.1)
    else:
        pd = 0.9 / (1.0 + math.exp((20.0 - 70.0) / 10.0))
        assert lost == pytest.approx(-math.log1p(-pd) + cfg.existence_unseen_logodds_per_s * 0.1)
        # repeated misses are weaker evidence (bursts), and the track is lost well before max_age:
        # unconfirmed, kept for re-identification until max_age ends it
        gone = None
        for j in range(1, 25):
            tracker.step((k + j) * DT_NS, dets((k + j) * DT_NS, np.zeros((0, 2))), [view])
            if gone is None and tracker.num_tracks == 1 and tracker._t.lost[0]:
                gone = j
                assert not tracker._t.confirmed.any()
            if gone is not None and (j + 1) * 0.1 < cfg.max_age_s:  # kept until max_age_s
                assert tracker.num_tracks == 1, j
        assert gone is not None and gone * 0.1 < cfg.max_age_s and tracker.num_tracks == 0


def _seen_every_other_frame(tracker: Tracker, k: int, n: int = 16) -> list[list[int]]:
    """Frames k..k+n-1: the object at (20, 0) reported every other frame at score 0.5; the ids
    published at each frame."""
    published = []
    for j in range(n):
        z = [[20.0, 0.0]] if j % 2 == 0 else np.zeros((0, 2))
        published.append(
            tracker.step((k + j) * DT_NS, dets((k + j) * DT_NS, z, scores=0.5), [FRONT]).ids.tolist()
        )
    return published


@pytest.mark.parametrize("keep_lost", [True, False])
def test_a_lost_track_is_found_again_under_its_id(keep_lost: bool) -> None:
    """An object the detector reports every other frame at score 0.5 loses its confirmed track
    (a miss in plain view costs 2.2 log-odds, a hit 0.5); kept as lost, the track takes the boxes
    back under its id and is published again once three in a row confirm it, as a new track would
    be (without keep_lost_tracks: under a new id)."""
    cfg = TrackerConfig(keep_lost_tracks=keep_lost)
    tracker, k = _confirmed_track(cfg)
    published = _seen_every_other_frame(tracker, k)
    k += 16

    def step(j: int, z) -> None:
        published.append(tracker.step(j * DT_NS, dets(j * DT_NS, z), [FRONT]).ids.tolist())

    assert [] in published and tracker.num_tracks == int(keep_lost)
    assert tracker._t.lost.all() and not tracker._t.confirmed.any()
    for j in range(cfg.min_hits + 2):
        step(k + j, [[20.0, 0.0]])
    after = published[-cfg.min_hits - 2 :]
    assert after[: cfg.min_hits - 1] == [[]] * (cfg.min_hits - 1)  # not before min_hits updates
    if keep_lost:  # its velocity known, it is confirmed at the min_hits-th update, under id 1
        assert after[cfg.min_hits - 1 :] == [[1]] * 3
    else:  # a new track: a new id, once its velocity std allows
        assert after[-1] and after[-1][0] > 1
    assert tracker.num_tracks == 1 and not tracker._t.lost.any()


def test_only_a_box_that_could_start_a_track_finds_a_lost_one() -> None:
    """Low-score boxes (score_low..score_high) extend tracks but start none; nor do they wake a lost
    track (else persistent low-score clutter where a false track once stood republished it sooner
    than a new track could be confirmed there). A high-score box does."""
    cfg = TrackerConfig()
    tracker, k = _confirmed_track(cfg)
    _seen_every_other_frame(tracker, k)
    k += 16
    assert tracker._t.lost.all() and tracker._t.logit[0] < cfg.logit("existence_delete")
    hits = int(tracker._t.hits[0])
    low = 0.5 * (cfg.score_low + cfg.score_high)
    for j in range(5):
        tracker.step((k + j) * DT_NS, dets((k + j) * DT_NS, [[20.0, 0.0]], scores=low), [FRONT])
        assert tracker.num_tracks == 1 and tracker._t.hits[0] == hits and tracker._t.lost[0], j
    k += 5
    tracker.step(k * DT_NS, dets(k * DT_NS, [[20.0, 0.0]]), [FRONT])
    assert tracker._t.ids.tolist() == [1] and tracker._t.hits.tolist() == [1]
    assert tracker._t.logit[0] == pytest.approx(cfg.logit("existence_birth"))


def test_a_lost_track_ends_at_max_age() -> None:
    cfg = TrackerConfig()
    tracker, k = _confirmed_track(cfg)
    n = int(round(cfg.max_age_s / 0.1))
    for j in range(n + 1):
        tracker.step((k + j) * DT_NS, dets((k + j) * DT_NS, np.zeros((0, 2))), [FRONT])
        assert tracker.num_tracks == (1 if j < n else 0), j
    # and a box there now starts a new track
    tracker.step((k + n + 1) * DT_NS, dets((k + n + 1) * DT_NS, [[20.0, 0.0]]), [FRONT])
    assert tracker._t.ids.tolist() == [2]


def test_without_coverage_a_miss_costs_the_plain_rate() -> None:
    cfg = TrackerConfig()
    tracker, k = _confirmed_track(cfg)
    before = float(tracker._t.logit[0])
    tracker.step(k * DT_NS, dets(k * DT_NS, np.zeros((0, 2))))
    assert before - float(tracker._t.logit[0]) == pytest.approx(cfg.existence_miss_logodds_per_s * 0.1)


def test_tentative_false_track_in_view_dies_at_its_first_miss() -> None:
    tracker = Tracker(TrackerConfig())
    tracker.step(0, dets(0, [[15.0, 1.0]]), [FRONT])
    tracker.step(DT_NS, dets(DT_NS, np.zeros((0, 2))), [FRONT])
    assert tracker.num_tracks == 0


def test_low_score_detections_extend_but_never_start_tracks() -> None:
    cfg = TrackerConfig()
    tracker = Tracker(cfg)
    for k in range(5):  # a low-score detection alone: never a track
        tracker.step(k * DT_NS, dets(k * DT_NS, [[10.0, 0.0]], scores=0.2))
    assert tracker.num_tracks == 0
    tracker, k = _confirmed_track(cfg)
    hits = int(tracker._t.hits[0])
    out = tracker.step(k * DT_NS, dets(k * DT_NS, [[20.05, 0.0]], scores=0.2))  # the weak frame extends it
    assert tracker._t.hits[0] == hits + 1 and not out.coasting.any()
    # below score_low: dropped altogether
    out = tracker.step((k + 1) * DT_NS, dets((k + 1) * DT_NS, [[20.1, 0.0]], scores=0.05))
    assert tracker._t.hits[0] == hits + 1 and out.coasting.all()


def test_high_score_detections_are_matched_first() -> None:
    """A closer low-score detection does not take the track from its high-score detection."""
    tracker, k = _confirmed_track(TrackerConfig())
    d = dets(k * DT_NS, [[20.0, 0.0], [20.6, 0.0]])
    d.scores[:] = [0.2, 0.95]
    tracker.step(k * DT_NS, d)
    x, _ = tracker._filter.combine(tracker._t.xm, tracker._t.Pm, tracker._t.mu)
    # pulled toward the high-score box at 20.6 m (0.6 m: inside a stopped track's gate; with the
    # stopped model, ten boxes at 20 m make the pull small), not held by the low-score one at 20 m
    assert x[0, 0] > 20.02


def test_logit_scores_map_through_the_sigmoid() -> None:
    as_logit = TrackerConfig(score_map={"LIDAR": "logit"})
    tracker = Tracker(as_logit)
    tracker.step(0, dets(0, [[10.0, 0.0]], scores=-1.0))  # sigmoid(-1) = 0.27 < score_high: no track
    assert tracker.num_tracks == 0
    tracker.step(DT_NS, dets(DT_NS, [[10.0, 0.0]], scores=2.0))  # 0.88
    assert tracker.num_tracks == 1


def test_unranked_scores_start_tracks_at_any_score() -> None:
    """The classical LiDAR detector's score (shape rule times point count) does not rank real boxes
    above false ones: a far, sparse real car scores 0.1-0.3. With its score_map unranked such a box
    is kept and may start a track (on the old scenarios' 8 s bags the score stages had cost MOTA
    0.02-0.03); the stage order and the second stage's tighter gate stay (a sparse box is the
    likelier fragment of a neighbour: mechanism 4 of the velocity tails)."""
    unranked = Tracker(TrackerConfig(score_map={"LIDAR": "unranked"}))
    ranked = Tracker(TrackerConfig())
    for k in range(5):
        for tracker in (unranked, ranked):
            tracker.step(k * DT_NS, dets(k * DT_NS, [[10.0 + k, 0.0]], scores=0.05))
    assert unranked.num_tracks == 1 and ranked.num_tracks == 0
    tracker, k = _confirmed_track(TrackerConfig(score_map={"LIDAR": "unranked"}))
    d = dets(k * DT_NS, [[20.0, 0.0], [20.6, 0.0]])
    d.scores[:] = [0.2, 0.95]
    tracker.step(k * DT_NS, d)
    x, _ = tracker._filter.combine(tracker._t.xm, tracker._t.Pm, tracker._t.mu)
    assert x[0, 0] > 20.02  # still the high-score box first


def test_pipeline_lidar_scores_are_its_detectors_kind() -> None:
    """The pipeline's LIDAR detections come from the classical detector, which says what its
    scores are (detector.score_kind); the library default stays probability (learned detectors)."""
    from sensor_fusion.config import from_flat, load_params_file
    from sensor_fusion.core.calibration import Calibration
    from sensor_fusion.pipeline import FusionPipeline
    from tests.conftest import REPO

    cfg = from_flat(load_params_file(REPO / "config" / "fusion.yaml"))
    assert TrackerConfig().score_map["LIDAR"] == cfg.tracker.score_map["LIDAR"] == "probability"
    assert cfg.detector.score_kind == "unranked"
    pipeline = FusionPipeline(cfg, Calibration())
    assert pipeline.tracker.config.score_map["LIDAR"] == "unranked"


def test_confirmed_only_with_a_usable_velocity() -> None:
    """The velocity tail: at min_hits a far object's track (1 m position noise) still has a velocity
    near its 0 +- 8 m/s prior, about 6 m/s uncertain; published then, its first velocities were off
    by 7 m/s (RMS). With the confirmation gate (2 m/s std per axis) they are off by about 3 m/s."""
    v = np.array([12.0, 0.0])
    first: dict[str, list[float]] = {"gated": [], "min_hits only": []}
    for name, gate in (("gated", 2.0), ("min_hits only", math.inf)):
        for seed in range(10):
            rng = np.random.default_rng(seed)
            tracker = Tracker(TrackerConfig(confirm_max_velocity_std_mps=gate))
            for k in range(30):
                p = np.array([50.0, 0.0]) + v * k * 0.1 + rng.normal(0.0, 1.0, 2)
                out = tracker.step(k * DT_NS, dets(k * DT_NS, [p], pos_std=1.0))
                if len(out):
                    first[name].append(float(np.hypot(*(out.state[0, 2:] - v))))
                    break
    rms = {k: math.sqrt(np.mean(np.square(e))) for k, e in first.items()}
    assert len(first["gated"]) == len(first["min_hits only"]) == 10
    assert rms["min_hits only"] > 6.0  # about the 5.3 m/s std it was confirmed with
    assert rms["gated"] < 3.5 and rms["gated"] < 0.5 * rms["min_hits only"]


@pytest.mark.parametrize("hides", [False, True])
def test_radar_update_does_not_hide_a_lidar_miss_in_plain_view(hides: bool) -> None:
    """A car tracked by LiDAR at 20 m, then updated by a radar-only detection alone: the LiDAR had it
    in plain view and missed it, which a radar update (radar's Pd is 0: it says nothing of the
    LiDAR) cannot undo: existence falls by the miss, log(1 - 0.9), less the radar hit (0.4). With
    ``radar_update_hides_box_miss`` (the behaviour before) the radar update hid the miss."""
    from sensor_fusion.core.classes import SENSOR_RADAR

    view = [SensorView(SENSOR_LIDAR, (0.0, 0.0), 0.0, math.pi, 80.0, 1.0)]
    tracker = Tracker(TrackerConfig(radar_update_hides_box_miss=hides))
    p, v = np.array([20.0, 3.0]), np.array([5.0, 0.0])
    for k in range(5):
        stamp = k * DT_NS
        tracker.step(stamp, dets(stamp, (p + v * k * 0.1)[None]), view)
    before = tracker._t.logit[0]
    stamp = 5 * DT_NS
    d = dets(stamp, (p + v * 0.5)[None], vel=v[None], sensors=SENSOR_RADAR, scores=0.4)
    d.vel_cov = np.eye(2)[None] * 0.3**2
    tracker.step(stamp, d, view)
    change = tracker._t.logit[0] - before
    assert change == pytest.approx(0.4 if hides else 0.4 + math.log(1 - 0.9), abs=0.1)


def test_detectors_on_one_sweep_miss_together() -> None:
    """The classical LiDAR detector and the BEV network run on the same sweep: an object with few
    points or behind another is missed by both, so their misses are one miss (Pd the larger), not
    two independent ones (1 - 0.1 x 0.1 = 0.99: log(0.01) = -4.6, a confirmed track's whole existence
    in one frame; `both` mode's ID switches on urban seeds 4-5 and radar_clutter 4-5, 10 s)."""
    xy = np.array([[20.0, 0.0]])
    both = [FRONT, SensorView(SENSOR_BEV, (0.0, 0.0), 0.0, math.pi, 50.0)]
    pd = {SENSOR_LIDAR: 0.9, SENSOR_BEV: 0.5}
    assert detection_probability(xy, np.ones(1), both, pd, {}, data={SENSOR_BEV: SENSOR_LIDAR})[0] == (
        pytest.approx(0.9)
    )
    views = [SensorView(SENSOR_LIDAR, (0.0, 0.0), 0.0, math.pi, 80.0), both[1]]
    change = {}
    for data in ("LIDAR", "BEV"):
        cfg = TrackerConfig(
            detection_data={"LIDAR": "LIDAR", "RADAR": "RADAR", "CAMERA": "CAMERA", "BEV": data}
        )
        tracker = Tracker(cfg)
        for k in range(8):
            stamp = k * DT_NS
            tracker.step(stamp, dets(stamp, np.array([[20.0 + 0.5 * k, 3.0]])), views)
        before = tracker._t.logit[0]
        tracker.step(8 * DT_NS, dets(8 * DT_NS, np.zeros((0, 2))), views)  # missed by both
        change[data] = tracker._t.logit[0] - before
    assert change["LIDAR"] > -2.5 and change["BEV"] < -4.0, change


def test_radar_ghost_in_plain_lidar_view_is_not_kept_alive() -> None:
    """Radar-only detections of a 'car' at 20 m, 8 frames, which the LiDAR has in plain view and
    never reports (a ghost): each frame charges the LiDAR's miss in full. The repeat-miss discount
    (misses of an existing object come in bursts) is for tracks a box detector has reported; on a
    radar-born track it cut the charge to 0.2 log-odds and the radar hits confirmed the ghost."""
    from sensor_fusion.core.classes import SENSOR_RADAR

    view = [SensorView(SENSOR_LIDAR, (0.0, 0.0), 0.0, math.pi, 80.0, 1.0)]
    tracker = Tracker(TrackerConfig())
    p, v = np.array([20.0, 3.0]), np.array([5.0, 0.0])
    logits = []
    for k in range(8):
        stamp = k * DT_NS
        d = dets(stamp, (p + v * k * 0.1)[None], vel=v[None], sensors=SENSOR_RADAR, scores=0.8)
        d.vel_cov = np.eye(2)[None] * 0.3**2
        confirmed = tracker.step(stamp, d, view)
        assert len(confirmed) == 0, f"the ghost was confirmed at frame {k}"
        logits.append(float(tracker._t.logit.max()) if len(tracker._t.logit) else -np.inf)
    assert logits[-1] < logits[1], logits


@pytest.mark.parametrize(("anchor", "extent"), [(True, "visible"), (False, "visible"), (True, "object")])
def test_a_box_growing_into_view_is_not_motion(anchor: bool, extent: str) -> None:
    """A parked bus 30 m ahead, its rear at x = 30 m, comes into view: the LiDAR box grows from 4.5
    to 12 m over 1 s, its centre moving 3.75 m away from the sensor while the bus stands still
    (urban seed 4: a bus track's box grew 4.5 -> 10.7 m and the track ran 2.4 m/s fast). A cluster's
    box (box_extent visible) anchored on its near face (the rear): the track stays at rest and ends
    on the bus's centre. On the box centres (anchoring off, or a learned detector's whole-object
    boxes, the library default) the growth reads as motion."""
    view = [SensorView(SENSOR_LIDAR, (0.0, 0.0), 0.0, math.pi, 80.0, 1.0)]
    extents = {"LIDAR": extent, "RADAR": "object", "CAMERA": "object", "BEV": "object"}
    tracker = Tracker(TrackerConfig(anchor_near_face=anchor, box_extent=extents))
    lengths = np.r_[np.full(3, 4.5), np.linspace(4.5, 12.0, 11), np.full(10, 12.0)]
    for k, length in enumerate(lengths):
        stamp = k * DT_NS
        d = dets(stamp, np.array([[30.0 + 0.5 * length, 2.0]]), labels=int(ObjectClass.BUS))
        d.sizes[:] = [length, 2.5, 3.0]
        tracker.step(stamp, d, view)
        if k == 13:  # the box has just finished growing
            speed_growing = float(np.hypot(*tracker._t.xm[0, :, 2:4].mean(axis=0)))
    x = tracker._filter.combine(tracker._t.xm, tracker._t.Pm, tracker._t.mu)[0][0]
    if anchor and extent == "visible":
        assert speed_growing < 0.5
        assert abs(x[0] - 36.0) < 1.0  # on the bus's centre once the size has converged
    else:
        assert speed_growing > 1.0
