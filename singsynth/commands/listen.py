"""singsynth listen: play a live MIDI input (a keyboard, or a virtual port) through the audio output."""
from __future__ import annotations

import logging

from ._live import add_live_arguments, check_live_arguments, flood_line, live_session, output_device

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("listen", help="play a live MIDI input (keyboard or virtual port)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--port", help="MIDI input by number or name (substring ok); default: the first one")
    source.add_argument("--virtual", metavar="NAME", help="open a virtual MIDI input NAME that others connect to")
    add_live_arguments(p)
    p.add_argument("--no-start-ahead", dest="start_ahead", action="store_false",
                   help="do not make the first moments of the channels' notes ahead while idle (about 35 KB a note, "
                        "105 MB at most; without them a note not yet generated sounds about 10 ms later)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.midi_ports import EventQueue, open_input, stamping
    settings = check_live_arguments(args)
    messages = EventQueue()
    device = output_device(args)  # first: without audio the MIDI port does not matter
    port = open_input(args.port, args.virtual, callback=stamping(messages))
    try:
        with live_session(args, settings, device) as session:
            logger.info("listening on %s; Ctrl-C stops", port.name)
            session.summary = session.producer.run_live(messages, session.stop)
    finally:
        port.close()
    logger.info("%s", flood_line(messages.dropped, session))
    return 0
