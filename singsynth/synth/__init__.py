"""Playing: the engine (engine.py) and its parts: a note's plan (plan.py, planner.py), its sound (note_supply.py,
live_supply.py, cache.py; live: generator.py in worker.py, stand_in.py), voices (voices.py, voice.py, envelope.py,
bank.py), channels (channels.py, control_change.py), the mixer and limiter (mixer.py), cpu_load.py; the block loop
(schedule.py) and live playing (live.py, coalesce.py, ahead.py). Never imports the training code."""
