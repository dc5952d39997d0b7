"""A bag written with an older definition of one of our messages (here TrackedObject before its
``coasting`` field) is read with the bag's own definition: every field it has keeps its value,
the new field gets its default. rclpy's CDR reader alone would misread every byte after it."""

from __future__ import annotations

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype

from sensor_fusion.bag.io import read_messages
from sensor_fusion.bag.typestore import LOCAL_PACKAGES, msg_definitions

ARRAY = "sensor_fusion_msgs/msg/TrackedObjectArray"


def _old_store():
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for package in LOCAL_PACKAGES:
        for name, text in msg_definitions(package).items():
            if name.endswith("/TrackedObject"):
                assert "bool coasting" in text
                text = "\n".join(line for line in text.splitlines() if not line.startswith("bool coasting"))
            types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def _default(store, name):
    """An instance of rosbags type ``name`` with zero / empty fields."""
    fields = store.fielddefs[name][1]
    values = []
    for _, (kind, detail) in fields:
        if kind == Nodetype.BASE:
            base = detail[0]
            values.append("" if base == "string" else False if base == "bool" else 0)
        elif kind == Nodetype.NAME:
            values.append(_default(store, detail))
        else:
            (sub_kind, sub), count = detail
            if sub_kind == Nodetype.BASE:
                dt = {"float64": np.float64, "float32": np.float32, "uint8": np.uint8}.get(sub[0], np.float64)
                values.append(np.zeros(count or 0, dt))
            else:
                values.append([_default(store, sub) for _ in range(count or 0)])
    return store.types[name](*values)


def test_bag_with_an_older_tracked_object_definition_reads(tmp_path):
    store = _old_store()
    arr = _default(store, ARRAY)
    for i in range(3):
        obj = _default(store, "sensor_fusion_msgs/msg/TrackedObject")
        obj.existence_probability = 0.25 * (i + 1)
        obj.hits = 7 + i
        obj.kinematics.pose_with_covariance.pose.position.x = 10.0 * i
        arr.objects.append(obj)
    arr.header.frame_id = "odom"
    path = tmp_path / "old"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/tracks", ARRAY, typestore=store)
        w.write(conn, 5, store.serialize_cdr(arr, ARRAY))

    [(topic, mt, t, msg)] = list(read_messages(path))
    assert (topic, mt, t) == ("/tracks", ARRAY, 5)
    assert msg.header.frame_id == "odom" and len(msg.objects) == 3
    assert [o.hits for o in msg.objects] == [7, 8, 9]
    assert [o.existence_probability for o in msg.objects] == [0.25, 0.5, 0.75]
    assert [o.kinematics.pose_with_covariance.pose.position.x for o in msg.objects] == [0.0, 10.0, 20.0]
    assert not any(o.coasting for o in msg.objects)
