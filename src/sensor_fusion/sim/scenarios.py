"""Named scenarios: one nested-dict schema for the world and every simulated sensor.

``scenario_config(name, overrides)`` returns a fresh dict: the base defaults, the
scenario's own changes, then ``overrides`` (a dict or a YAML file) deep-merged on
top. Keys that the schema does not have are rejected with their dotted paths;
lists replace lists wholesale. Times in windows are seconds from the scenario
start (``world.start_time_ns``); ``null`` as a window end means "until the end".

Schema (units in key names; defaults in ``BASE``)::

    name: str                   scenario name
    seed: int                   default seed (World/sensor streams derive from it)
    world:
      duration_s, start_time_ns (int ns, first stamp), sim_rate_hz (trajectory grid),
      lateral_accel_mps2        comfort limit that sets curve speeds
      road:
        type: straight | curved | intersection
        lanes_per_direction, lane_width_m, shoulder_m (paved; >= 1 m is a bike lane),
        sidewalk_m (unpaved walkway; pedestrians need >= 1.5), centre_line: auto|dashed|solid|none
        curve_radius_m, curve_angle_deg (per bend), first_straight_m   (curved)
        intersection_distance_m (junction centre ahead of the ego start), turn_radius_m
        signal: {green_s, all_red_s, offset_s, first_green: crossing|ego}   (intersection)
        raster_resolution_m, raster_view_m (paint roads within this distance of the ego path),
        marking_width_m, dash_on_m, dash_off_m
      ego:
        speed_mps (desired), start_speed_mps (null = speed_mps), lane (1 = next to the centre
        line), route: straight | right, length_m, width_m, height_m, wheelbase_m,
        rear_overhang_m (base_link is the rear axle), max_accel_mps2, comfort_decel_mps2,
        max_decel_mps2, time_headway_s, min_gap_m, max_steer_rad, steer_time_constant_s,
        accel_time_constant_s, lookahead_gain_s, lookahead_min_m
      actors:
        cars, trucks, buses, cyclists, pedestrians, crossing_pedestrians (of pedestrians),
        pedestrian_patience_s (after waiting this long at the kerb they accept gaps that need
        hard braking),
        oncoming_fraction, turning_fraction (right turns at junctions), speed_spread,
        spawn_ahead_m, spawn_behind_m
      static:                   the static world (sim/static/); enabled false = the open world of old
        enabled, buildings, vegetation, street_furniture, guard_rails, median_barrier (bools),
        overhead_sign_spacing_m (0 = none; roads without sidewalks), parked_cars (fraction of
        curb slots taken, where the sidewalk zone is >= 5 m), parking_lot (the sidewalk zone is
        a lot of perpendicular bays), curb_height_m (0 = no raised sidewalk; 0.1-0.2 real),
        view_m (scenery is built within this distance of the ego's track), animated_people
        (pedestrians as walkers with swinging legs and arms, only with the static world),
        standing_groups_per_100m (groups of 2-4 people standing by the façades, sidewalks >= 5 m),
        wind_mps [lo, hi] (each world's mean wind speed is drawn in it: foliage sways and
        flutters, static/wind.py; [0, 0] = still air), max_grade (each world's peak road grade
        is drawn in [0.25, 1] x this; 0 = level), grade_wavelength_m [lo, hi] (of the grade's
        waves: bounds the vertical curvature), crossfall (the carriageway's crown, 0 = none;
        sim/terrain.py)
    calibration: str            YAML under the package's config/ ("" = calibration.yaml)
    world.kind: road | yard     yard = a skid-steer robot (sim/robot.py) with world.robot:
      size_m, max_speed_mps, max_yaw_rate_rps, response_time_s, initial_stop_s,
      leg_length_m [min, max], stop_prob, stop_s [min, max], turn_prob, hills, max_slope_deg,
      buildings (beside the path: GNSS multipath), building_clearance_m
    lidar:   enabled, frame, beams (16..128), vfov_deg [lower, upper], rate_hz (10..20),
             azimuth_resolution_deg, min_range_m, max_range_m, range_noise_std_m, dropout_prob
             ([0, 1)), sectors (actor motion samples per sweep), model (ideal | a beam table of
             ``lidar_models.LIDAR_MODELS``: vlp16, hdl64e_kitti, os1_128; a table sets beams,
             elevations, rate, resolution, ranges, noise and reflectivity/incidence dropout),
             point_layout (sim | velodyne | ouster | livox | hesai | robosense: the driver whose
             PointCloud2 fields are written), outages [[t0, t1|null], ...], latency_ms, jitter_ms
    cameras: names [calibration frames], rate_hz, encoding jpeg|raw, jpeg_quality (1..100),
             dropout {camera_name: [[t0, t1|null], ...]}, latency_ms, jitter_ms
    radars:  names, rate_hz, fov_deg (azimuth), elevation_fov_deg, min_range_m, max_range_m,
             range_noise_m, azimuth_noise_deg, elevation_noise_deg, velocity_noise_mps,
             rcs_noise_db, p_detect, snr_detection (range/RCS-dependent P_d on top of p_detect),
             azimuth_resolution_deg, max_points_per_object, clutter_rate (mean static roadside
             returns per scan), ghost_rate (mean multipath ghosts per scan), format
             (pointcloud2: /sensors/<name>/points; radar_scan: radar_msgs/RadarScan on
             /sensors/<name>/scan), outages,
             latency_ms, jitter_ms
    imu:     frame, rate_hz (10..1000), gyro_noise_density (rad/s/sqrt(Hz)),
             accel_noise_density (m/s^2/sqrt(Hz)), gyro_bias_random_walk (rad/s^2/sqrt(Hz)),
             accel_bias_random_walk (m/s^3/sqrt(Hz)), gyro_bias_init_std (rad/s),
             accel_bias_init_std (m/s^2), include_orientation, orientation_noise_deg
             [roll, pitch, yaw], gravity_mps2, magnetic_declination_rad, yaw_offset_rad (AHRS
             yaw, robot_localization convention: yaw_enu = yaw_imu + declination + offset),
             yaw_bias_std_deg, yaw_bias_time_s (magnetic disturbance, Gauss-Markov),
             vibration_accel_mps2 [x, y, z], vibration_gyro_rad_s [x, y, z] (chassis vibration
             per sample at vibration_ref_speed_mps of wheel ground speed, base_link axes),
             vibration_idle_accel_mps2, vibration_idle_gyro_rad_s (standing),
             vibration_half_track_m (turning on the spot shakes too), vibration_correlation
             (lag-one, 0 white: an IMU low-passing before it decimates), outages, latency_ms, jitter_ms
    wheel_odom: enabled, frame, child_frame, rate_hz, speed_noise_mps, yaw_rate_noise_rps,
             speed_scale_std, yaw_rate_scale_std (per run), slip_std, slip_time_s (Gauss-Markov
             slip ratio), slope_slip_per_rad (slip per radian of climb along the motion,
             signed: downhill brakes; [min, max] drawn per run, min = max for one value),
             latency_ms, jitter_ms
    gps:     frame, rate_hz (1..10), datum {lat_deg, lon_deg, alt_m} (= world origin),
             stamp_latency_ms (header stamp after the fix's time of validity: drivers that stamp
             at reception), gnss_model: gauss_markov | white,
             white model (bags before issue 15): horizontal_std_m, vertical_std_m,
               correlation_time_s (0 = white);
             gauss_markov model (sim/gnss.py): gm_horizontal_std_m, gm_vertical_std_m (per axis),
               gm_time_constant_s, white_horizontal_std_m, white_vertical_std_m,
               reported_std_factor (reported sigma / true sigma), multipath_rate_hz (open sky;
               buildings add theirs), multipath_duration_s (mean), multipath_jump_m (mean),
               rtk: none | float | fixed, rtk_fixed_std_m, rtk_float_std_m,
               velocity (Doppler TwistWithCovarianceStamped), velocity_std_mps;
             outages, latency_ms, jitter_ms

Latency: the recorder writes each message at ``stamp + latency`` (``latency_ns``
draws it); the header stamp stays the measurement time. Keys in ``RECORDER_KEYS``
(frames, windows, latency, encoding) are for the recorder; ``model_params(block)``
strips them before a block is handed to a sensor model that validates its keys.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

import numpy as np
import yaml

from .lidar_layouts import POINT_LAYOUTS
from .lidar_models import LIDAR_MODELS

BASE: dict[str, Any] = {
    "name": "base",
    "seed": 0,
    # sensor extrinsics: a YAML in the package's config/ ("" = calibration.yaml); --calibration wins
    "calibration": "",
    "world": {
        "kind": "road",  # road: world.py (cars on lanes) | yard: robot.py (a skid-steer robot, slopes)
        "duration_s": 20.0,
        "start_time_ns": 1_700_000_000_000_000_000,
        "sim_rate_hz": 200.0,
        "lateral_accel_mps2": 2.5,
        "road": {
            "type": "curved",
            "lanes_per_direction": 1,
            "lane_width_m": 3.5,
            "shoulder_m": 1.5,
            "sidewalk_m": 3.0,
            "centre_line": "auto",
            "curve_radius_m": 120.0,
            "curve_angle_deg": 45.0,
            "first_straight_m": 60.0,
            "intersection_distance_m": 70.0,
            "turn_radius_m": 8.0,
            "signal": {"green_s": 10.0, "all_red_s": 3.0, "offset_s": 0.0, "first_green": "crossing"},
            "raster_resolution_m": 0.05,
            "raster_view_m": 150.0,
            "marking_width_m": 0.15,
            "dash_on_m": 3.0,
            "dash_off_m": 6.0,
        },
        "ego": {
            "speed_mps": 12.0,
            "start_speed_mps": None,
            "lane": 1,
            "route": "straight",
            "length_m": 4.7,
            "width_m": 1.9,
            "height_m": 1.5,
            "wheelbase_m": 2.8,
            "rear_overhang_m": 1.0,
            "max_accel_mps2": 1.5,
            "comfort_decel_mps2": 2.5,
            "max_decel_mps2": 8.0,
            "time_headway_s": 1.5,
            "min_gap_m": 3.0,
            "max_steer_rad": 0.6,
            "steer_time_constant_s": 0.15,
            "accel_time_constant_s": 0.3,
            "lookahead_gain_s": 0.8,
            "lookahead_min_m": 5.0,
        },
        "robot": {
            "size_m": [0.99, 0.67, 0.39],
            "max_speed_mps": 1.5,
            "max_yaw_rate_rps": 0.8,
            "response_time_s": 0.4,
            "initial_stop_s": 5.0,
            "leg_length_m": [6.0, 25.0],
            "stop_prob": 0.4,
            "stop_s": [2.0, 6.0],
            "turn_prob": 0.35,
            "hills": 6,
            "max_slope_deg": 10.0,
            "buildings": 5,
            "building_clearance_m": 3.0,
        },
        "actors": {
            "cars": 6,
            "trucks": 1,
            "buses": 1,
            "cyclists": 2,
            "pedestrians": 5,
            "crossing_pedestrians": 1,
            "pedestrian_patience_s": 4.0,
            "oncoming_fraction": 0.4,
            "turning_fraction": 0.3,
            "speed_spread": 0.15,
            "spawn_ahead_m": 90.0,
            "spawn_behind_m": 50.0,
        },
        "static": {
            "enabled": False,
            "buildings": True,
            "vegetation": True,
            "street_furniture": True,
            "guard_rails": True,
            "median_barrier": True,
            "overhead_sign_spacing_m": 400.0,
            "parked_cars": 0.6,
            "parking_lot": False,
            "curb_height_m": 0.15,
            "view_m": 140.0,
            "animated_people": True,
            "standing_groups_per_100m": 1.5,
            "wind_mps": [0.0, 8.0],
            "max_grade": 0.06,
            "grade_wavelength_m": [250.0, 600.0],
            "crossfall": 0.02,
        },
    },
    "lidar": {
        "enabled": True,
        "frame": "lidar_top",
        "beams": 64,
        "vfov_deg": [-25.0, 15.0],
        "rate_hz": 10.0,
        "azimuth_resolution_deg": 0.2,
        "min_range_m": 0.5,
        "max_range_m": 120.0,
        "range_noise_std_m": 0.02,
        "dropout_prob": 0.01,
        "sectors": 32,
        "model": "ideal",
        "point_layout": "sim",
        "outages": [],
        "latency_ms": 20.0,
        "jitter_ms": 2.0,
    },
    "cameras": {
        "names": ["camera_front", "camera_rear"],
        "rate_hz": 10.0,
        "encoding": "jpeg",
        "jpeg_quality": 85,
        "dropout": {},
        "latency_ms": 40.0,
        "jitter_ms": 5.0,
    },
    "radars": {
        "names": ["radar_front"],
        "rate_hz": 13.0,
        "fov_deg": 90.0,
        "elevation_fov_deg": 20.0,
        "min_range_m": 0.5,
        "max_range_m": 150.0,
        "range_noise_m": 0.15,
        "azimuth_noise_deg": 0.3,
        "elevation_noise_deg": 1.0,
        "velocity_noise_mps": 0.1,
        "rcs_noise_db": 3.0,
        "p_detect": 0.95,
        "snr_detection": True,
        "azimuth_resolution_deg": 1.5,
        "max_points_per_object": 6,
        "clutter_rate": 4.0,
        "ghost_rate": 0.5,
        "format": "pointcloud2",
        "outages": [],
        "latency_ms": 40.0,
        "jitter_ms": 5.0,
    },
    "imu": {
        "frame": "imu_link",
        "rate_hz": 200.0,
        "gyro_noise_density": 1.7e-4,
        "accel_noise_density": 2.0e-3,
        "gyro_bias_random_walk": 2.0e-5,
        "accel_bias_random_walk": 3.0e-4,
        "gyro_bias_init_std": 1.0e-3,
        "accel_bias_init_std": 0.02,
        "include_orientation": True,
        "orientation_noise_deg": [0.2, 0.2, 1.0],
        "gravity_mps2": 9.80665,
        "magnetic_declination_rad": 0.0,
        "yaw_offset_rad": 0.0,
        "yaw_bias_std_deg": 0.0,
        "yaw_bias_time_s": 300.0,
        # chassis vibration (sim/inertial._vibration): off on the cars (suspension; their IMU
        # densities above already sit over the datasheet's)
        "vibration_accel_mps2": [0.0, 0.0, 0.0],
        "vibration_gyro_rad_s": [0.0, 0.0, 0.0],
        "vibration_idle_accel_mps2": 0.0,
        "vibration_idle_gyro_rad_s": 0.0,
        "vibration_ref_speed_mps": 1.0,
        "vibration_half_track_m": 0.0,
        "vibration_correlation": 0.0,
        "outages": [],
        "latency_ms": 2.0,
        "jitter_ms": 0.5,
    },
    "gps": {
        "frame": "gps_link",
        "rate_hz": 5.0,
        # header stamp minus time of validity: 0 for drivers that stamp with the fix's own time;
        # NMEA and u-blox ROS drivers stamp at reception, 50-200 ms later
        "stamp_latency_ms": 0.0,
        "datum": {"lat_deg": 48.137154, "lon_deg": 11.576124, "alt_m": 520.0},
        # gauss_markov (realistic, sim/gnss.py) | white (the model before issue 15; its keys below)
        "gnss_model": "gauss_markov",
        "horizontal_std_m": 0.5,
        "vertical_std_m": 1.0,
        "correlation_time_s": 0.0,
        "gm_horizontal_std_m": 1.0,
        "gm_vertical_std_m": 2.0,
        "gm_time_constant_s": 60.0,
        "white_horizontal_std_m": 0.2,
        "white_vertical_std_m": 0.4,
        "reported_std_factor": 0.8,
        "multipath_rate_hz": 1.0 / 600.0,
        "multipath_duration_s": 5.0,
        "multipath_jump_m": 5.0,
        "rtk": "none",
        "rtk_fixed_std_m": 0.01,
        "rtk_float_std_m": 0.3,
        "velocity": False,
        "velocity_std_mps": 0.05,
        "outages": [],
        "latency_ms": 50.0,
        "jitter_ms": 10.0,
    },
    "wheel_odom": {
        "enabled": False,
        "frame": "odom",
        "child_frame": "base_link",
        "rate_hz": 10.0,
        "speed_noise_mps": 0.02,
        "yaw_rate_noise_rps": 0.02,
        "speed_scale_std": 0.02,
        "yaw_rate_scale_std": 0.05,
        "slip_std": 0.03,
        "slip_time_s": 2.0,
        # per run from [min, max] (asphalt 0.05 to soft ground 0.8: sim/wheel.py); min = max: one value
        "slope_slip_per_rad": [0.05, 0.8],
        "latency_ms": 5.0,
        "jitter_ms": 1.0,
    },
}

# keys below these paths are free (e.g. camera names), so they are not checked against BASE
_OPEN = {("cameras", "dropout")}

# scenario -> (parent, changes)
_SCENARIOS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "urban": (None, {}),
    "highway": (
        None,
        {
            "world": {
                "road": {
                    "type": "curved",
                    "lanes_per_direction": 3,
                    "lane_width_m": 3.75,
                    "shoulder_m": 2.5,
                    "sidewalk_m": 0.0,
                    "curve_radius_m": 700.0,
                    "curve_angle_deg": 25.0,
                    "first_straight_m": 120.0,
                },
                "ego": {"speed_mps": 27.0, "lane": 2},
                "actors": {
                    "cars": 16,
                    "trucks": 3,
                    "buses": 0,
                    "cyclists": 0,
                    "pedestrians": 0,
                    "crossing_pedestrians": 0,
                    "oncoming_fraction": 0.25,
                    "speed_spread": 0.1,
                    "spawn_ahead_m": 110.0,
                    "spawn_behind_m": 70.0,
                },
                # with the static world: motorway grades (<= 4 %) on long vertical curves (K >= 120)
                "static": {"max_grade": 0.04, "grade_wavelength_m": [3000.0, 6000.0]},
            },
            "lidar": {"beams": 64, "max_range_m": 150.0},
            "radars": {"max_range_m": 200.0},
        },
    ),
    "intersection": (
        None,
        {
            "world": {
                "duration_s": 25.0,
                "road": {"type": "intersection"},
                "ego": {"speed_mps": 11.0, "route": "right"},
                "actors": {
                    "cars": 10,
                    "trucks": 1,
                    "buses": 1,
                    "cyclists": 0,
                    "pedestrians": 4,
                    "crossing_pedestrians": 0,
                },
            }
        },
    ),
    # the static world (sim/static/): a street canyon and a parking lot
    "urban_clutter": (
        None,
        {
            "world": {
                "road": {"type": "straight", "shoulder_m": 1.5, "sidewalk_m": 7.5},
                "ego": {"speed_mps": 10.0},
                "actors": {
                    "cars": 6,
                    "trucks": 1,
                    "buses": 1,
                    "cyclists": 4,
                    "pedestrians": 14,
                    "crossing_pedestrians": 3,
                },
                "static": {"enabled": True, "parked_cars": 0.7},
            },
        },
    ),
    "parking_lot": (
        None,
        {
            "world": {
                "road": {
                    "type": "straight",
                    "lane_width_m": 3.0,
                    "shoulder_m": 0.5,
                    "sidewalk_m": 20.0,
                    "centre_line": "none",
                },
                "ego": {"speed_mps": 4.0},
                "actors": {
                    "cars": 3,
                    "trucks": 0,
                    "buses": 0,
                    "cyclists": 1,
                    "pedestrians": 12,
                    "crossing_pedestrians": 4,
                    "spawn_ahead_m": 50.0,
                    "spawn_behind_m": 30.0,
                },
                "static": {"enabled": True, "parking_lot": True, "parked_cars": 0.75, "curb_height_m": 0.0},
            },
        },
    ),
    "gps_outage": ("urban", {"world": {"duration_s": 30.0}, "gps": {"outages": [[10.0, 20.0]]}}),
    # a skid-steer robot in a yard (issue 15): IMU + magnetometer AHRS + wheel odometry + GNSS only
    "robot": (
        None,
        {
            "calibration": "calibration_robot.yaml",
            "world": {"kind": "yard", "duration_s": 120.0},
            "lidar": {"enabled": False},
            "cameras": {"names": []},
            "radars": {"names": []},
            "imu": {
                # consumer MEMS AHRS (BNO055 class: 0.014 deg/s/sqrt(Hz), 150 ug/sqrt(Hz))
                "rate_hz": 30.0,
                "gyro_noise_density": 2.4e-4,
                "accel_noise_density": 1.5e-3,
                "gyro_bias_init_std": 5.0e-3,
                "accel_bias_init_std": 0.05,
                "orientation_noise_deg": [0.5, 0.5, 1.5],
                "magnetic_declination_rad": 0.0524,  # +3.0 deg
                "yaw_offset_rad": 1.5707963267948966,  # the AHRS reads 0 facing north
                "yaw_bias_std_deg": 3.0,  # magnetic disturbances (steel, buildings), slowly varying
                "yaw_bias_time_s": 300.0,
                # an unsprung skid-steer base on a yard's paving, grass and gravel at 1 m/s: the
                # vertical shake of wheels over joints, roots and stones ~1 m/s^2 RMS, half that
                # fore-aft and sideways, pitch and roll rates ~3 deg/s, yaw ~1 deg/s (wheels
                # scrubbing); it grows with the wheels' ground speed (turns on the spot too:
                # half the track 0.3 m) and stays at motor hum when the robot stands
                "vibration_accel_mps2": [0.5, 0.5, 1.0],
                "vibration_gyro_rad_s": [0.05, 0.05, 0.02],
                "vibration_idle_accel_mps2": 0.02,
                "vibration_idle_gyro_rad_s": 0.002,
                "vibration_half_track_m": 0.3,
            },
            "gps": {
                # 2.5 Hz, reported sigma ~0.9 m as the real robot's receiver; jumps near the
                # buildings beside its path (world.robot.buildings) and, more often than on the open
                # road, away from them (trees, fences, parked vehicles)
                "rate_hz": 2.5,
                "gm_horizontal_std_m": 0.85,
                "gm_vertical_std_m": 1.7,
                "white_horizontal_std_m": 0.3,
                "white_vertical_std_m": 0.6,
                "reported_std_factor": 1.0,
                "multipath_rate_hz": 1.0 / 120.0,
                "multipath_jump_m": 6.0,
            },
            "wheel_odom": {"enabled": True},
        },
    ),
    "camera_dropout": ("urban", {"cameras": {"dropout": {"camera_front": [[0.0, None]]}}}),
    "radar_clutter": ("urban", {"radars": {"clutter_rate": 40.0, "ghost_rate": 8.0}}),
    "dense_traffic": (
        None,
        {
            "world": {
                "road": {"lanes_per_direction": 2, "curve_radius_m": 150.0},
                "ego": {"speed_mps": 13.0, "lane": 2},
                "actors": {
                    "cars": 24,
                    "trucks": 4,
                    "buses": 2,
                    "cyclists": 4,
                    "pedestrians": 10,
                    "crossing_pedestrians": 2,
                    "spawn_ahead_m": 150.0,
                    "spawn_behind_m": 90.0,
                },
            }
        },
    ),
}


def scenario_names() -> list[str]:
    return sorted(_SCENARIOS)


def load_overrides(path: str | FsPath) -> dict[str, Any]:
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: overrides must be a mapping, got {type(data).__name__}")
    return data


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _merge(base: dict, over: Mapping, path: tuple[str, ...], unknown: list[str], bad: list[str]) -> None:
    for k, v in over.items():
        p = (*path, str(k))
        name = ".".join(p)
        if path in _OPEN:
            base[k] = copy.deepcopy(v)
            continue
        if k not in base:
            unknown.append(name)
            continue
        cur = base[k]
        if isinstance(cur, dict):
            if not isinstance(v, Mapping):
                bad.append(f"{name}: expected a mapping, got {v!r}")
            else:
                _merge(cur, v, p, unknown, bad)
        elif isinstance(cur, bool):
            if not isinstance(v, bool):
                bad.append(f"{name}: expected true/false, got {v!r}")
            else:
                base[k] = v
        elif _is_num(cur) or (cur is None and (v is None or _is_num(v))):
            if v is not None and not _is_num(v):
                bad.append(f"{name}: expected a number, got {v!r}")
            else:
                base[k] = v
        elif isinstance(cur, list):
            if not isinstance(v, list | tuple):
                bad.append(f"{name}: expected a list, got {v!r}")
            else:
                base[k] = copy.deepcopy(list(v))
        elif isinstance(cur, str):
            if not isinstance(v, str):
                bad.append(f"{name}: expected a string, got {v!r}")
            else:
                base[k] = v
        else:
            base[k] = copy.deepcopy(v)


def _check_windows(name: str, windows: Any, errors: list[str]) -> None:
    if not isinstance(windows, list):
        errors.append(f"{name}: expected a list of [start_s, end_s|null] windows")
        return
    for w in windows:
        ok = isinstance(w, list | tuple) and len(w) == 2 and _is_num(w[0]) and (w[1] is None or _is_num(w[1]))
        if not ok or (w[1] is not None and w[1] <= w[0]):
            errors.append(f"{name}: bad window {w!r} (want [start_s, end_s > start_s or null])")


def _validate(c: dict) -> None:
    e: list[str] = []

    def rng_(path: str, lo: float, hi: float, integer: bool = False) -> None:
        node: Any = c
        for p in path.split("."):
            node = node[p]
        if not _is_num(node) or not lo <= node <= hi or (integer and int(node) != node):
            kind = "an integer" if integer else "a number"
            e.append(f"{path}: must be {kind} in [{lo}, {hi}], got {node!r}")

    def one_of(path: str, options: tuple[str, ...]) -> None:
        node: Any = c
        for p in path.split("."):
            node = node[p]
        if node not in options:
            e.append(f"{path}: must be one of {'|'.join(options)}, got {node!r}")

    w = c["world"]
    rng_("world.duration_s", 0.5, 3600.0)
    rng_("world.sim_rate_hz", 20.0, 2000.0)
    rng_("world.road.lanes_per_direction", 1, 4, True)
    rng_("world.road.lane_width_m", 2.5, 5.0)
    rng_("world.road.raster_resolution_m", 0.01, 0.5)
    rng_("world.road.turn_radius_m", 4.0, 40.0)
    one_of("world.road.type", ("straight", "curved", "intersection"))
    one_of("world.road.centre_line", ("auto", "dashed", "solid", "none"))
    one_of("world.road.signal.first_green", ("crossing", "ego"))
    one_of("world.ego.route", ("straight", "right"))
    rng_("world.ego.speed_mps", 0.0, 60.0)
    rng_("world.ego.lane", 1, w["road"]["lanes_per_direction"], True)
    if w["ego"]["start_speed_mps"] is not None:
        rng_("world.ego.start_speed_mps", 0.0, 60.0)
    for k in ("cars", "trucks", "buses", "cyclists", "pedestrians", "crossing_pedestrians"):
        rng_(f"world.actors.{k}", 0, 500, True)
    for k in ("oncoming_fraction", "turning_fraction", "speed_spread"):
        rng_(f"world.actors.{k}", 0.0, 1.0)
    rng_("world.static.overhead_sign_spacing_m", 0.0, 5000.0)
    rng_("world.static.parked_cars", 0.0, 1.0)
    rng_("world.static.curb_height_m", 0.0, 0.3)
    rng_("world.static.view_m", 10.0, 2000.0)
    rng_("world.static.standing_groups_per_100m", 0.0, 100.0)
    rng_("world.static.max_grade", 0.0, 0.15)
    rng_("world.static.crossfall", 0.0, 0.08)
    v = w["static"]["grade_wavelength_m"]
    if not (isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and 50 <= v[0] <= v[1] <= 1e5):
        e.append(f"world.static.grade_wavelength_m: want [lo, hi] m with 50 <= lo <= hi <= 1e5, got {v!r}")
    v = w["static"]["wind_mps"]
    if not (isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and 0 <= v[0] <= v[1] <= 30):
        e.append(f"world.static.wind_mps: want [lo, hi] m/s with 0 <= lo <= hi <= 30, got {v!r}")
    rng_("lidar.beams", 16, 128, True)
    rng_("lidar.rate_hz", 10.0, 20.0)
    rng_("lidar.dropout_prob", 0.0, 0.999)
    one_of("lidar.model", ("ideal", *LIDAR_MODELS))
    one_of("lidar.point_layout", POINT_LAYOUTS)
    v = c["lidar"]["vfov_deg"]
    if not (isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and -90 <= v[0] < v[1] <= 90):
        e.append(f"lidar.vfov_deg: want [lower, upper] degrees with lower < upper, got {v!r}")
    rng_("cameras.rate_hz", 1.0, 60.0)
    rng_("cameras.jpeg_quality", 1, 100, True)
    one_of("cameras.encoding", ("jpeg", "raw"))
    names = c["cameras"]["names"]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        e.append(f"cameras.names: want a list of distinct frame names, got {names!r}")
    for cam, windows in c["cameras"]["dropout"].items():
        if cam not in names:
            e.append(f"cameras.dropout: unknown camera {cam!r} (cameras.names: {names})")
        _check_windows(f"cameras.dropout.{cam}", windows, e)
    rng_("radars.rate_hz", 1.0, 50.0)
    rng_("radars.fov_deg", 1.0, 360.0)
    rng_("radars.p_detect", 0.0, 1.0)
    rng_("radars.clutter_rate", 0.0, 1000.0)
    rng_("radars.ghost_rate", 0.0, 1000.0)
    rng_("radars.max_points_per_object", 1, 64, True)
    rng_("imu.rate_hz", 10.0, 1000.0)
    one_of("world.kind", ("road", "yard"))
    rng_("world.robot.max_speed_mps", 0.05, 10.0)
    rng_("world.robot.max_yaw_rate_rps", 0.05, 5.0)
    rng_("world.robot.response_time_s", 0.01, 5.0)
    rng_("world.robot.max_slope_deg", 0.0, 30.0)
    rng_("world.robot.hills", 0, 100, True)
    rng_("world.robot.buildings", 0, 100, True)
    rng_("world.robot.building_clearance_m", 0.5, 100.0)
    for k in ("stop_prob", "turn_prob"):
        rng_(f"world.robot.{k}", 0.0, 1.0)
    for k in ("leg_length_m", "stop_s"):
        v = c["world"]["robot"][k]
        if not (isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and 0 < v[0] <= v[1]):
            e.append(f"world.robot.{k}: want [min, max] with 0 < min <= max, got {v!r}")
    rng_("wheel_odom.rate_hz", 1.0, 200.0)
    v = c["wheel_odom"]["slope_slip_per_rad"]
    if not (isinstance(v, list) and len(v) == 2 and all(map(_is_num, v)) and 0 <= v[0] <= v[1] <= 5):
        e.append(f"wheel_odom.slope_slip_per_rad: want [min, max] with 0 <= min <= max <= 5, got {v!r}")
    one_of("radars.format", ("pointcloud2", "radar_scan"))
    rng_("gps.rate_hz", 1.0, 10.0)
    rng_("gps.stamp_latency_ms", 0.0, 2000.0)
    rng_("gps.datum.lat_deg", -90.0, 90.0)
    rng_("gps.datum.lon_deg", -180.0, 180.0)
    if not (
        isinstance(c["imu"]["orientation_noise_deg"], list) and len(c["imu"]["orientation_noise_deg"]) == 3
    ):
        e.append("imu.orientation_noise_deg: want [roll, pitch, yaw] degrees")
    for block in ("lidar", "cameras", "radars", "imu", "gps", "wheel_odom"):
        rng_(f"{block}.latency_ms", 0.0, 10_000.0)
        rng_(f"{block}.jitter_ms", 0.0, 10_000.0)
        if "outages" in c[block]:
            _check_windows(f"{block}.outages", c[block]["outages"], e)
    rng_("lidar.range_noise_std_m", 0.0, 10.0)
    for k in (
        "range_noise_m",
        "azimuth_noise_deg",
        "elevation_noise_deg",
        "velocity_noise_mps",
        "rcs_noise_db",
    ):
        rng_(f"radars.{k}", 0.0, 100.0)
    for k in ("gyro_noise_density", "accel_noise_density", "gyro_bias_random_walk", "accel_bias_random_walk"):
        rng_(f"imu.{k}", 0.0, 10.0)
    for k in ("vibration_accel_mps2", "vibration_gyro_rad_s"):
        v = c["imu"][k]
        if not (isinstance(v, list) and len(v) == 3 and all(_is_num(x) and 0 <= x <= 100 for x in v)):
            e.append(f"imu.{k}: want [x, y, z] in [0, 100], got {v!r}")
    for k in ("vibration_idle_accel_mps2", "vibration_idle_gyro_rad_s", "vibration_half_track_m"):
        rng_(f"imu.{k}", 0.0, 100.0)
    rng_("imu.vibration_ref_speed_mps", 0.01, 100.0)
    rng_("imu.vibration_correlation", 0.0, 0.95)
    for k in (
        "horizontal_std_m",
        "vertical_std_m",
        "correlation_time_s",
        "gm_horizontal_std_m",
        "gm_vertical_std_m",
        "gm_time_constant_s",
        "white_horizontal_std_m",
        "white_vertical_std_m",
        "multipath_duration_s",
        "multipath_jump_m",
        "rtk_fixed_std_m",
        "rtk_float_std_m",
        "velocity_std_mps",
    ):
        rng_(f"gps.{k}", 0.0, 1e4)
    rng_("gps.reported_std_factor", 0.01, 100.0)
    rng_("gps.multipath_rate_hz", 0.0, 10.0)
    one_of("gps.gnss_model", ("gauss_markov", "white"))
    one_of("gps.rtk", ("none", "float", "fixed"))
    if e:
        raise ValueError("invalid scenario config:\n  " + "\n  ".join(e))


def _apply(cfg: dict, over: Mapping, where: str) -> None:
    unknown: list[str] = []
    bad: list[str] = []
    _merge(cfg, over, (), unknown, bad)
    if unknown:
        raise ValueError(f"{where}: unknown config keys: {', '.join(sorted(unknown))}")
    if bad:
        raise ValueError(f"{where}: " + "; ".join(bad))


def scenario_config(name: str, overrides: Mapping | str | FsPath | None = None) -> dict[str, Any]:
    """The full config of scenario ``name`` with ``overrides`` (dict or YAML path) merged on top."""
    if name not in _SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(scenario_names())}")
    chain = []
    n: str | None = name
    while n is not None:
        parent, changes = _SCENARIOS[n]
        chain.append(changes)
        n = parent
    cfg = copy.deepcopy(BASE)
    for changes in reversed(chain):
        _apply(cfg, changes, f"scenario {name}")
    cfg["name"] = name
    if overrides is not None:
        if isinstance(overrides, str | FsPath):
            where, overrides = str(overrides), load_overrides(overrides)
        else:
            where = "overrides"
        _apply(cfg, overrides, where)
    _validate(cfg)
    return cfg


# -- helpers shared by the sensors and the recorder -----------------------------------------------
def stream_rng(seed: int, *names: str | int) -> np.random.Generator:
    """Independent reproducible generator for one named consumer (a sensor, an actor class, ...).

    Names are hashed with CRC32 (stable across processes, unlike ``hash``), so adding
    a sensor or an actor class never shifts another's random numbers.
    """
    key = tuple(zlib.crc32(str(n).encode()) for n in names)
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


RECORDER_KEYS = frozenset(
    {
        "enabled",
        "frame",
        "names",
        "outages",
        "dropout",
        "latency_ms",
        "jitter_ms",
        "encoding",
        "jpeg_quality",
        "point_layout",
        "format",
    }
)


def model_params(block: Mapping) -> dict[str, Any]:
    """A sensor block without the recorder-level keys (what ``simulate_*`` models consume)."""
    return {k: copy.deepcopy(v) for k, v in block.items() if k not in RECORDER_KEYS}


def window_mask(stamps_ns: np.ndarray, t0_ns: int, windows: list) -> np.ndarray:
    """True where a stamp lies inside any [start_s, end_s|null) window relative to ``t0_ns``."""
    t = (np.asarray(stamps_ns, dtype=np.int64) - int(t0_ns)) * 1e-9
    out = np.zeros(t.shape, dtype=bool)
    for start, end in windows or []:
        out |= (t >= start) & (t < (np.inf if end is None else end))
    return out


def latency_ns(n: int, block: Mapping, rng: np.random.Generator) -> np.ndarray:
    """(n,) int ns delays ``latency_ms + N(0, jitter_ms)``, never negative: write time = stamp + delay."""
    d = float(block["latency_ms"]) + float(block["jitter_ms"]) * rng.standard_normal(n)
    return np.round(np.maximum(d, 0.0) * 1e6).astype(np.int64)
