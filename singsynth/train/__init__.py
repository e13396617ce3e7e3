"""Training: data sets (data.py), SoundFont rendering (soundfont.py), the trainer (config.py, solver.py, checkpoint.py,
warm_start.py, tuning.py), evaluation (evaluate.py, pitch.py), level calibration and writing the preset (calibration.py,
export.py). Never imports the playing code."""
