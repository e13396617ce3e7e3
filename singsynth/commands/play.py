"""singsynth play: a MIDI file through the audio output, in real time against the audio clock."""
from __future__ import annotations

import logging

from ._live import add_live_arguments, check_live_arguments, live_session

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("play", help="play a MIDI file through the audio output")
    p.add_argument("midi", metavar="FILE.mid", help="standard MIDI file (type 0 or 1)")
    add_live_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.midi import duration, read_midi
    from ..synth.ahead import PlayAhead
    from ..synth.schedule import Schedule
    settings = check_live_arguments(args)
    events = read_midi(args.midi)
    with live_session(args, settings, preload_events=events) as session:
        logger.info("playing %s (%.1f s); Ctrl-C stops", args.midi, duration(events))
        producer = session.producer
        schedule = Schedule(events, producer.sample_rate, producer.block)
        # without --preload, the file's notes are generated seconds ahead of the playhead, in its order
        ahead = None if args.preload else PlayAhead(producer.engine, schedule.timed)
        session.summary = producer.run_schedule(schedule, session.stop, ahead)
    return 0
