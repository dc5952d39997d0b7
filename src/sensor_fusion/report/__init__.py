"""``sensor-fusion report``: one self-contained HTML page per run (``page.write_report``), its data
(``data``), figures (``figures``) and the headless-browser check (``browser``)."""
