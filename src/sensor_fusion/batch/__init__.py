"""``sensor-fusion batch`` / ``batch-compare``: run + evaluate over many bags on a local process pool
or Ray (``runner``, one task per bag: ``jobs``), write per-bag JSON, a summary table and an HTML
summary (``summary``), and compare two batches metric by metric and bag by bag (``compare``)."""
