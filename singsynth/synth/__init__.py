"""Playing: the engine (engine.py) and its parts (planner.py, note_supply.py, cache.py, cpu_load.py), voices and their
envelopes (voice.py, envelope.py, bank.py), the block loop (schedule.py) and live playing (live.py). Never imports
the training code."""
