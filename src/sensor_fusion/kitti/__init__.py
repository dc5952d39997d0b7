"""KITTI tracking benchmark I/O: read detections, track them, write and score results, export bags.

``formats``: the label_02 / results text format, AB3DMOT's detection CSV and calib files;
``coords``: camera <-> tracking-frame boxes and image projection; ``track``: the tracker library
over a sequence (``sensor-fusion track-kitti``); ``export``: a generated bag as a KITTI sequence
(``export-kitti``); ``evaluate``: CLEAR MOT, HOTA and IDF1 with TrackEval (``evaluate-kitti``);
``cli``: the three subcommands. Only ``export`` reads ROS messages.
"""
