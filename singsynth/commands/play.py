"""singsynth play: a MIDI file through the audio output, in real time against the audio clock."""
from __future__ import annotations

import logging

from ..cli import UsageError
from .listen import add_live_arguments, live_session

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("play", help="play a MIDI file through the audio output")
    p.add_argument("midi", metavar="FILE.mid", help="standard MIDI file (type 0 or 1)")
    add_live_arguments(p)
    p.add_argument("--no-preload", action="store_true",
                   help="start at once and generate notes as they come (the first ones may be late)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..midi import MidiError, duration, read_midi
    try:
        events = read_midi(args.midi)
    except MidiError as exc:
        raise UsageError(str(exc)) from None

    def preload(engine) -> None:
        # the file's notes are known: generate them now so the first ones are not late
        if not args.no_preload:
            logger.debug("preloaded %d notes", engine.preload(events, progress=not args.quiet))

    with live_session(args, prepare=preload) as session:
        logger.info("playing %s (%.1f s); Ctrl-C stops", args.midi, duration(events))
        session.summary = session.producer.run_schedule(events, session.stop)
    return 0
