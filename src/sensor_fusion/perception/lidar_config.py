"""Parameters of the classical LiDAR detector (:mod:`.lidar`), each with its unit, bounds and the
reason for its default: the node's ``detector`` section (``config/fusion.yaml``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..core.schema import ParamConfig, param
from .ground import MAX_REJECT_LOWEST

_MAX_GRID_CELLS = 16_000_000  # 64 MiB of int32 clustering scratch


@dataclass
class LidarDetectorConfig(ParamConfig):
    """Detector parameters; heights are relative to the local ground estimate."""

    # LiDAR origin in base_link: ranges, lines of sight (clustering, box completion, covariance)
    # and the grids are measured from it.
    sensor_x_m: float = param(
        math.nan,
        unit="m",
        nan="from the calibration's LiDAR extrinsic (lidar.frame); 0 without one",
        desc="LiDAR origin x in base_link (ranges and lines of sight are measured from it)",
    )
    sensor_y_m: float = param(
        math.nan,
        unit="m",
        nan="from the calibration's LiDAR extrinsic (lidar.frame); 0 without one",
        desc="LiDAR origin y in base_link",
    )
    sensor_z_m: float = param(
        math.nan,
        unit="m",
        nan="from the calibration's LiDAR extrinsic (lidar.frame); unknown without one (no roughness rule)",
        desc="LiDAR origin z in base_link: the returns' elevation angles, hence the scan rings, are "
        "measured from it",
    )
    # Region of interest (horizontal range from the sensor origin).
    range_min_m: float = param(1.5, unit="m", ge=0.0, desc="Closer returns are the ego vehicle itself")
    range_max_m: float = param(80.0, unit="m", gt=0.0, desc="Farther returns are ignored (horizontal range)")
    z_min_m: float = param(0.2, unit="m", ge=0.0, desc="Points lower than this above local ground are ground")
    z_max_m: float = param(
        4.5, unit="m", gt=0.0, desc="Points higher than this above ground are dropped (foliage, bridges)"
    )
    # Columns (perception/overhang.py): overhangs cut, columns taller than any object flagged.
    overhang_removal: bool = param(
        True,
        unit="",
        desc="Drop returns above an empty vertical gap in their BEV cell (tree crowns, sign boards, "
        "balconies over an object) and cells whose lowest return is above structure_tall_min_m",
    )
    overhang_gap_m: float = param(
        1.2,
        unit="m",
        gt=0.0,
        desc="A column's empty vertical gap wider than this plus one beam spacing at that range "
        "(class_height_slack_per_m x range) ends it: wider than a vehicle's window band (glass "
        "returns little; 0.4-0.6 m on cars, ~1 m on buses), narrower than the clearance between a car "
        "roof (1.4-1.9 m) and street-tree crowns or sign boards (>= 2.5-4.5 m)",
    )
    structure_tall_fraction: float = param(
        0.5,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Clusters with more than this share of their points in columns that rise without a gap past "
        "structure_tall_min_m and have returns above z_max_m over them, through a gap or not (façades, "
        "trunks under crowns, poles under lamps) are structure; a truck under a low crown is taken "
        "for one too (perception/overhang.py); 1 = off",
    )
    structure_tall_spread_m: float = param(
        0.2,
        unit="m",
        ge=0.0,
        le=1.0,
        desc="A column is judged with the returns of the cells within this distance (rounded to whole "
        "cluster_cell_m cells): a vertical face seen obliquely spreads one scan column over neighbouring "
        "cells when it leans in the sensor's frame (the body's 1-2 deg of roll and pitch on crowned and "
        "graded roads) or steps (0.3 m window reveals), and no cell keeps a column whole. One cell: "
        "touching cells are one cluster anyway; wider reaches into other objects' cells and costs the "
        "square of it; 0 = each cell alone",
    )
    column_split_margin_m: float = param(
        1.0,
        unit="m",
        ge=0.0,
        desc="Columns of a cluster taller than structure_tall_min_m and this much above its median column "
        "top are split off (a trunk or pole beside a car or person): no road user has a part 1 m above "
        "the rest of it; 0 = off",
    )
    # Ground estimate.
    ground_cell_m: float = param(0.5, unit="m", gt=0.0, desc="Cell of the ground-height grid")
    ground_max_slope: float = param(
        0.1,
        unit="m/m",
        ge=0.0,
        desc="Ground rises at most this much per metre between cells (10 % grade); larger follows steeper "
        "terrain but lets the estimate climb into occlusion shadows, eating low objects",
    )
    ground_reject_lowest: int = param(
        1, unit="1", ge=0, le=MAX_REJECT_LOWEST, desc="Lowest returns per cell ignored as outliers"
    )
    ground_hidden_slope: float = param(
        0.02,
        unit="m/m",
        ge=0.0,
        desc="Where nearer objects hide the road, a cluster the rules kept with most of its returns over it "
        "reaches down, for its class and box, to the nearest road seen raised by this grade times the "
        "distance (where its ground estimate stands 0.3 m higher): a truck's rear over a queue of cars "
        "shows only its upper part, and the estimate climbs to its lowest return. 2 % is a road's or car "
        "park's drainage fall (1-3 %). The rules that drop what is too tall (poles, slivers) and those that "
        "look past a truck-tall face's ends read that height too (they can only drop more); the rest keep "
        "the measured one. Must be below ground_max_slope; needs the LiDAR height (sensor_z_m); 0 = off",
    )
    # Clustering.
    cluster_cell_m: float = param(
        0.2,
        unit="m",
        gt=0.0,
        desc="BEV clustering cell; objects >= 2 cells apart across the line of sight stay apart",
    )
    cluster_link_angle_deg: float = param(
        0.4, unit="deg", ge=0.0, desc="At range, cells link across gaps up to range x this angle (columns)"
    )
    cluster_radial_link_per_m: float = param(
        0.1,
        unit="m/m",
        ge=0.0,
        desc="Line-of-sight link length per metre of range: a surface at grazing angle g returns points "
        "range x column_spacing / sin(g) apart; 0.1 ~ 0.2 deg columns down to g = 2 deg",
    )
    cluster_radial_link_max_m: float = param(
        2.5, unit="m", ge=0.0, desc="Cap on the line-of-sight link length"
    )
    cluster_elevated_min_m: float = param(
        0.8,
        unit="m",
        ge=0.0,
        desc="Cells whose lowest point is this high above ground (roof, bonnet seen from above) cannot stand "
        "alone; they link along the line of sight up to cluster_elevated_link_m",
    )
    cluster_elevated_link_m: float = param(3.0, unit="m", ge=0.0, desc="Link length of elevated cells")
    min_points: int = param(5, unit="1", ge=2, desc="Clusters with fewer points are dropped")
    # Box acceptance.
    min_height_m: float = param(
        0.3, unit="m", ge=0.0, desc="Cluster top must be at least this above ground (curbs, debris)"
    )
    max_length_m: float = param(16.0, unit="m", gt=0.0, desc="Longer clusters are walls or buildings")
    max_width_m: float = param(4.0, unit="m", gt=0.0, desc="Wider clusters are walls or buildings")
    max_height_m: float = param(
        4.3,
        unit="m",
        gt=0.0,
        desc="Taller clusters are structures (walls, poles, trees), even when fragmented; must be < z_max_m",
    )
    max_bottom_clearance_m: float = param(
        1.5, unit="m", ge=0.0, desc="Lowest point higher than this above ground: canopy or sign"
    )
    # Rows and static structure (issue 13; why and the sources of each figure: docs/detection-tracking.md).
    row_split: bool = param(
        True,
        unit="",
        desc="Split clusters whose height profile holds two bodies (rows of parked cars), along their "
        "length and, for clusters wider than any road vehicle (2.6 m), across it (a person beside a car)",
    )
    group_split: bool = param(
        True,
        unit="",
        desc="Split clusters of a cyclist's footprint (1-2.5 m long, <= 1.2 m wide) at the dips between "
        "adult-height heads: people side by side merge into one cluster, a cyclist has one head "
        "(perception/people.py)",
    )
    bicycle_wheel_ends: bool = param(
        False,
        unit="",
        desc="A BICYCLE-sized box whose ends (outer 0.3 m) stand over 0.6 of its top is UNKNOWN: a cyclist's "
        "ends are wheels (<= 0.75 m against a rider's >= 1.5 m); the camera, where it sees the box, names "
        "it. Off: bicycle precision +0.10-0.29, but it failed its pre-registered check on static false "
        "positives and HOTA (docs/detection-tracking.md, session 26)",
    )
    row_dip_m: float = param(
        0.7,
        unit="m",
        ge=0.0,
        desc="A profile bin whose top is lower than this separates two bodies: above car bumpers "
        "(0.5-0.6 m), below bonnets and boots (0.8-1.1 m)",
    )
    row_body_min_m: float = param(
        1.0,
        unit="m",
        ge=0.0,
        desc="A profile segment is a body if it reaches this high (car roofs 1.4-1.6 m)",
    )
    row_body_min_length_m: float = param(
        0.3, unit="m", ge=0.0, desc="... and spans at least this along the row (a pedestrian's depth)"
    )
    row_cabin_drop_m: float = param(
        0.35,
        unit="m",
        ge=0.0,
        desc="Clusters longer than structure_long_min_m and lower than a truck are also split where their "
        "height profile drops this far below its top: a row of parked cars seen from afar hides the gaps "
        "between them, but each car's cabin (roof 1.4-1.6 m) stands 0.4-0.6 m over the bonnets and boots "
        "between; pieces beyond an empty run with no cabin of their own are cut off too; 0 = off",
    )
    structure_thin_max_m: float = param(
        1.2,
        unit="m",
        ge=0.0,
        desc="Clusters at most this long and taller than structure_tall_min_m are poles, signs or trunks "
        "(no class is that narrow and taller than a person)",
    )
    structure_post_max_m: float = param(
        0.25,
        unit="m",
        ge=0.0,
        desc="Clusters whose footprint plus one column spacing is narrower than this are posts: the "
        "narrowest person (0.3 m across the shoulders) less a margin",
    )
    structure_sliver_min_m: float = param(
        2.0,
        unit="m",
        ge=0.0,
        desc="Clusters shorter than structure_plate_min_m and thinner than 0.15 m (one or two scan "
        "columns) taller than this are posts, trunks, or façade columns seen through a gap between "
        "occluders: a measured top is never above the true one, fewer than 0.1 % of adults are taller "
        "than 2.0 m, and a cyclist or a person seen across is wider. KITTI-LiDAR urban_clutter dev "
        "sweeps, camera view: 92 such boxes, 91 matching no object; 0 = off",
    )
    structure_plate_max_m: float = param(
        0.0,
        unit="m",
        ge=0.0,
        desc="Person-sized clusters (<= 1.2 m long) at least structure_plate_min_m long and thinner than "
        "this are plates (sign faces, fence panels): a person's torso is 0.2-0.3 m deep, so any view of "
        "it 0.3 m across bulges by >= 0.1 m. 0 = off, the default: the open-world scenarios' pedestrians "
        "are boxes, flat when seen face-on (0.1 cost them 0.02 recall); 0.1 for real sensors",
    )
    structure_plate_min_m: float = param(
        0.3, unit="m", ge=0.0, desc="... the narrowest person's shoulders; shorter slabs may be an arm or leg"
    )
    structure_floating_plate_m: float = param(
        0.8,
        unit="m",
        ge=0.0,
        desc="Person-sized clusters (structure_plate_min_m to 1.2 m long) thinner than 0.15 m whose lowest "
        "point is higher than this above ground, plus the beam spacing at their range "
        "(class_height_slack_per_m), are plates seen over an occluder (sign faces behind parked cars): a "
        "person's head and shoulders are 0.2-0.3 m deep. Unlike structure_plate_max_m it spares the open "
        "world's flat box pedestrians, which are seen down to their feet; 0 = off",
    )
    structure_low_plate_max_m: float = param(
        1.5,
        unit="m",
        ge=0.0,
        desc="Person-sized clusters (structure_plate_min_m to 1.2 m long) thinner than 0.1 m whose top, "
        "plus the beam spacing at their range, is lower than this are fence panels and railings: no "
        "adult is that short, and a child's torso is 0.15 m deep. Judged only where at least 3 beams "
        "cross structure_low_max_m (~40 m): beyond, a far person shows a 0.6-1.0 m tall slab (open-world "
        "urban and radar_clutter bags, 41-64 m). Unlike structure_plate_max_m it spares the open world's "
        "box pedestrians (1.6-1.9 m tall); 0 = off",
    )
    structure_tall_min_m: float = param(
        2.3, unit="m", ge=0.0, desc="Taller than any pedestrian or cyclist (2.2 m) with beam slack"
    )
    structure_low_max_m: float = param(
        1.3,
        unit="m",
        ge=0.0,
        desc="Clusters longer or wider than a person (1.2 m) whose top, plus the beam slack at range, is "
        "lower than this, where at least 3 beams cross this height (~40 m), are low structure (bike "
        "racks, parked bicycles, hedges, benches): the lowest common cars are 1.3-1.4 m tall and a "
        "cyclist with rider >= 1.5 m; 0 = off",
    )
    structure_grazing_face_deg: float = param(
        45.0,
        unit="deg",
        ge=0.0,
        le=90.0,
        desc="A box an end-on rule takes (a rear or front face alone: a car's 1.2-2.5 m across and under "
        "0.4 m deep, a truck's 1.8-3.2 m across and 2.3-4.6 m tall) seen at less than this angle to its "
        "own plane is a fence panel, a wall or façade section or a sign face: a vehicle seen that "
        "obliquely (more than 45 degrees off its axis) turns its side to the sensor (a car's 4.5 m x sin "
        "45 = 3.2 m, a truck's 8 m x sin 45 = 5.7 m, projected against the face), and the cluster would "
        "hold it (unless something else hides the side). Person-sized plates (structure_plate_min_m to "
        "1.2 m long, thinner than 0.15 m) seen that obliquely are structure too: a person is 0.2-0.3 m "
        "deep (the open world's box pedestrians 0.3-0.5 m), and at more than 45 degrees off the front "
        "the side is seen at least as squarely as the front; 0 = off",
    )
    structure_long_min_m: float = param(
        6.0, unit="m", ge=0.0, desc="Longer than any car (passenger cars and vans <= 6 m)"
    )
    structure_long_min_height_m: float = param(
        2.5,
        unit="m",
        ge=0.0,
        desc="Long clusters lower than this (plus the beam slack) are fences, hedges or low walls: trucks "
        "and buses are >= 2.5 m tall",
    )
    structure_interior_max: float = param(
        1.0,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Boxes wider than 1.2 m with more of their low points than this inside the footprint are "
        "vegetation (returns penetrate it; a solid body's low points lie on its faces); 1 = off, the "
        "default: at 0.3 it also dropped a third of the cars of the open-world intersection bag",
    )
    structure_rough_min_m: float = param(
        0.06,
        unit="m",
        ge=0.0,
        desc="Clusters longer than a person (1.2 m) whose median |second difference of range| along the "
        "scan rings (over at least 20 triples of neighbouring returns of one beam) exceeds this are "
        "vegetation: foliage returns come from leaves at different depths, a solid surface's differ "
        "only by range noise (median ~0.83 sigma: 1.7 cm for 2 cm noise, 2.5 cm for 3 cm). "
        "urban_clutter dev, 90th percentiles: cars, trucks, buses, cyclists 2.0-2.8 cm, pedestrians "
        "4.5 cm; hedges and bushes: 10th percentile 8 cm. Asked only of clusters whose returns lie on "
        "rings (most neighbour triples one beam), so randomly sampled or non-repetitive clouds are "
        "left alone. Needs the LiDAR height (sensor_z_m); 0 = off",
    )
    structure_face_extent: bool = param(
        True,
        unit="",
        desc="Truck-tall clusters whose long face is seen to run on along its line, at truck height or "
        "up to the highest beam, past max_length_m, or whose end face (seen from more than 6 deg off "
        "it) runs past 3.2 m (a truck with its mirrors), are façade pieces and building corners, not "
        "trucks: a head whose highest beam is a few degrees up (KITTI's HDL-64E: +2 deg) sees no "
        "façade above a truck's height within ~60 m (docs/detection-tracking.md)",
    )
    structure_blind_gap_range_m: float = param(
        50.0,
        unit="m",
        ge=0.0,
        desc="Within this range the face-extent test (structure_face_extent) follows a long face "
        "across a gap of up to 4 m (a shop window) whose beams show nothing more than 1 m past the face's "
        "line along the ray: "
        "glass returns nothing, where the gap between two vehicles parked nose to tail shows the road "
        "or the pavement beyond. Past it an empty gap proves nothing: an HDL-64E's beams reach little "
        "ground past 40-60 m, so an opening there may return nothing either. 0 = off",
    )
    structure_bounded_ends: bool = param(
        True,
        unit="",
        desc="Truck-tall clusters (or cut by the highest beam) that show no end of their own are façade "
        "pieces, not trucks: nothing behind either end (the beams 1 deg past a vehicle's end, at the "
        "heights it spans, travel on to the road or what stands beyond, more than 1 m past its face "
        "extended), something at their heights past both, and past at least one the face running on "
        "within 1 m (a building's next, staggered front). Needs the LiDAR height (sensor_z_m)",
    )
    structure_recess_max_m: float = param(
        2.0,
        unit="m",
        ge=0.0,
        desc="Truck-tall clusters (or cut by the highest beam) with one end that shows nothing behind it "
        "(hidden, or its face running on) and, past the other, no road and something off the ground "
        "within this depth of the face extended (measured where the ray meets the extension), are "
        "façade pieces ending at a recess, a doorway or the next staggered front (0.3-1.5 m deep). "
        "Beyond ~15 m the road within 2 m of an end is below the cluster's band, so what keeps a vehicle "
        "is an end of its own: something past it deeper than this, or nothing closing the other. "
        "With structure_bounded_ends; 0 = off",
    )
    structure_solid_base_m: float = param(
        3.0,
        unit="m",
        ge=0.0,
        desc="Truck-tall clusters (or cut by the highest beam) with one end that shows nothing behind it, "
        "no beam passing under them, and a base that stops the beams just below their lowest returns "
        "(at the face, off the ground) over a run longer than this, are walls: a vehicle longer than a car "
        "stands 0.3-1.2 m clear between its wheel groups, and tyres (1.0-1.1 m across) leave road between "
        "them near the ground (perception/underside.py). With structure_bounded_ends; 0 = off",
    )
    structure_hidden_base: float = param(
        0.8,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Truck-tall clusters (or cut by the highest beam) seen as one face (narrower than 1.2 m: no "
        "end face in view), with one end that shows nothing behind it, whose base is hidden by something "
        "standing nearer (a return over 0.3 m off the ground, more than 1 m in front, right below their "
        "lowest return) over at least this share of their azimuth span, are façade pieces behind parked "
        "cars, hedges and trees. A vehicle in the street is seen down to its wheels unless traffic stands "
        "in front of it, and a vehicle behind traffic shows its end face too (seen from behind or ahead). "
        "0.8: the gaps in a row of parked cars leave the rest of a front hidden. A truck seen side-on only, "
        "behind parked cars, one end hidden, is dropped in that sweep "
        "(perception/underside.py). With structure_bounded_ends; 0 = off",
    )
    structure_tall_unknown_m: float = param(
        2.2,
        unit="m",
        ge=0.0,
        desc="Boxes no class rule takes (UNKNOWN) that stand taller than this over the ground and are "
        "narrower than 1.5 m are structure and dropped: taller than any person or cyclist (the rules' "
        "2.2 m), narrower than any vehicle that tall (vans, trucks, buses: 1.9-2.6 m across). Piers "
        "between windows, columns, door frames and signs on their posts, where a low LiDAR ceiling or "
        "what stands in front hides the rest. 0 = off",
    )
    vehicle_end_recede_m: float = param(
        0.4,
        unit="m",
        ge=0.0,
        desc="A box the shape rules call a person, a cyclist or UNKNOWN, at most a car's height, that spans "
        "at least 1.0 m across the line of sight and whose upper half stands this much farther "
        "than its lower half, is a car's end (perception/vehicle_end.py): a rear's bumper and boot stand "
        "0.6-1.2 m before its rear window and roof, a front's 1-1.5 m before its windscreen, where a "
        "person's or cyclist's upper half stands over their lower half (a lean moves it a few tenths, and "
        "a cyclist seen from behind is under 0.7 m wide). Past ~40 m a car end's three or four rows have "
        "a cyclist's footprint; CAR, completed along the line of sight. 0 = off",
    )
    structure_memory_s: float = param(
        30.0,
        unit="s",
        ge=0.0,
        desc="Returns above 2 m of clusters larger than any vehicle (or façade pieces) are remembered "
        "this long as structure cells (0.5 m) in the tracking frame (odom), and a later truck-tall "
        "cluster with half its returns in such cells is that structure: a building seen face-on under "
        "a low LiDAR ceiling is a truck-sized face, but its corner or full length was seen on the "
        "approach. 30 s covers passing a block at walking-pace traffic speeds (5 m/s: 150 m); odom "
        "drifts by centimetres in that time. Used when the detector is given the ego pose; 0 = off",
    )
    structure_votes: bool = param(
        True,
        unit="",
        desc="Cells of 0.5 m in the tracking frame (odom) count the sweeps in which small structure stood "
        "in them (poles, posts, walls of car height, foliage no wider than 1.2 m, flat plates: shapes no "
        "object takes, standing on the ground) and those in which a kept cluster did; a kept cluster with "
        "half its returns where structure leads by two sweeps or more is that structure: a hedge or fence "
        "piece judged by its shape nearby, now thinned by range or cut by a parked car. Cells are held "
        "structure_memory_s after their last vote. Used when the detector is given the ego pose",
    )
    structure_flat_max: float = param(
        0.75,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Clusters 2.5 m or longer and lower than a truck whose top is level (within 0.25 m of its "
        "median) over more than this fraction of their length are walls: a car's cabin spans about half "
        "its length, an estate's or a van's up to about 70 %",
    )
    structure_inside_m: float = param(
        0.2, unit="m", ge=0.0, desc="A low point this far inside every edge of its box is interior"
    )
    structure_low_m: float = param(
        0.7, unit="m", ge=0.0, desc="Low points: below car bonnet height, where a car shows only faces"
    )
    # Box fitting.
    fit_angle_step_deg: float = param(
        2.0, unit="deg", gt=0.0, le=45.0, desc="Coarse heading sweep step; refined to a tenth of it"
    )
    fit_max_points: int = param(512, unit="1", ge=8, desc="Cluster subsample size for the heading search")
    class_height_slack_per_m: float = param(
        0.011,
        unit="m/m",
        ge=0.0,
        desc="Box tops fall between beams at range, so class height minima are lowered by this times the "
        "range; ~ vertical beam spacing in rad (64 beams over 40 deg: 0.011)",
    )
    shape_completion: bool = param(
        True,
        unit="",
        desc="Grow vehicle boxes seen from one side to their class's typical size, away from the sensor",
    )
    # Uncertainty and confidence.
    pos_std_min_m: float = param(0.15, unit="m", gt=0.0, desc="Box-centre std at zero range with many points")
    pos_std_radial_per_m: float = param(
        0.005, unit="m/m", ge=0.0, desc="Added centre std along the line of sight, per metre of range"
    )
    pos_std_tangential_per_m: float = param(
        0.0035, unit="m/m", ge=0.0, desc="Added centre std across the line of sight, per metre of range"
    )
    cov_ref_points: float = param(
        20.0,
        unit="1",
        gt=0.0,
        desc="Point count: the centre variance scales by (1 + cov_ref_points / n_points)",
    )
    score_ref_points: float = param(
        15.0, unit="1", gt=0.0, desc="Point count: the score scales by 1 - exp(-n_points / score_ref_points)"
    )
    score_kind: str = param(
        "unranked",
        unit="",
        choices=("probability", "unranked"),
        desc="What the box scores are, for the tracker (the pipeline sets tracker.score_map.LIDAR to it): "
        "unranked, as this detector's shape-rule times point-count score does not rank real boxes above "
        "false ones (far, sparse real objects score low: on the old scenarios' 8 s bags boxes at 0.1-0.3 "
        "were 55-89 % real, those at 0.3-0.5 45-84 %), so any of its boxes may start a track",
    )

    box_extent: str = param(
        "visible",
        unit="",
        choices=("object", "visible"),
        desc="What the boxes span, for the tracker (the pipeline sets tracker.box_extent.LIDAR to it): "
        "visible, as a cluster's box ends where its returns did (completion grows only car, truck and "
        "bus boxes, and only to a typical size), so a box's far faces move as more of its object comes "
        "into view",
    )

    def with_sensor_origin(self, xyz: np.ndarray | tuple[float, ...]) -> LidarDetectorConfig:
        """A copy whose NaN (derive) ``sensor_x_m``/``sensor_y_m`` (and ``sensor_z_m``, when ``xyz``
        has a third value) take ``xyz`` (m, base_link)."""
        x = float(xyz[0]) if math.isnan(self.sensor_x_m) else self.sensor_x_m
        y = float(xyz[1]) if math.isnan(self.sensor_y_m) else self.sensor_y_m
        z = float(xyz[2]) if len(xyz) > 2 and math.isnan(self.sensor_z_m) else self.sensor_z_m
        return dataclasses.replace(self, sensor_x_m=x, sensor_y_m=y, sensor_z_m=z)

    def cross_checks(self) -> list[str]:
        out = []
        if self.range_min_m >= self.range_max_m:
            out.append(f"range_min_m: must be < range_max_m, got {self.range_min_m} >= {self.range_max_m}")
        if self.z_min_m >= self.z_max_m:
            out.append(f"z_min_m: must be < z_max_m, got {self.z_min_m} >= {self.z_max_m}")
        elif not self.z_min_m < self.max_height_m < self.z_max_m:
            out.append(
                f"max_height_m: must lie between z_min_m and z_max_m (taller structures are recognised "
                f"by points above it), got {self.z_min_m}, {self.max_height_m}, {self.z_max_m}"
            )
        if 0.0 < self.ground_max_slope <= self.ground_hidden_slope:
            out.append(
                f"ground_hidden_slope: must be below ground_max_slope (the estimate can never stand over "
                f"a steeper continuation), got {self.ground_hidden_slope} >= {self.ground_max_slope}"
            )
        for name in ("cluster_cell_m", "ground_cell_m"):
            ng = math.ceil(2.0 * self.range_max_m / getattr(self, name))
            if ng * ng > _MAX_GRID_CELLS:
                out.append(
                    f"{name}: {getattr(self, name)} with range_max_m={self.range_max_m} needs a "
                    f"{ng}x{ng} grid (> {_MAX_GRID_CELLS} cells); use a larger cell or smaller range"
                )
        return out
