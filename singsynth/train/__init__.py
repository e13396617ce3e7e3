"""Training: data sets (data.py), SoundFont rendering (soundfont.py: fluid_render.py, render_state.py,
render_workers.py), the trainer (config.py, solver.py: distributed.py, device_notes.py, steps.py, stage_losses.py,
vibrato_loss.py, validation.py, run_files.py, checkpoint.py; warm_start.py, tuning.py, fit_vibrato.py), evaluation
(evaluate.py: eval_notes.py, eval_figures.py, eval_report.py; pitch.py), level calibration and writing the preset
(calibration.py, export.py). Never imports the playing code."""
