"""PendingNotes: the notes streaming in, shared by the live generator and the player's side of its worker."""
import threading

from singsynth.synth.pending import PendingNotes

FLUTE = (1.0, 0.0)


def key(pitch: int, step: int = 3):
    return (FLUTE, pitch, step)


def test_a_note_is_claimed_once_and_asked_for_once():
    pending, asked = PendingNotes(note_len=100, limit=4), []
    note = pending.want(key(60), asked.append)
    assert note is not None and len(note.data) == 100 and not note.data.any()
    assert note.ready == 0 and not note.done
    assert pending.want(key(60), asked.append) is note  # the same buffer, not asked for again
    assert asked == [key(60)] and len(pending) == 1
    assert pending.get(key(60)) is note and pending.get(key(61)) is None


def test_past_the_limit_a_note_is_refused_until_one_is_released():
    pending, asked = PendingNotes(note_len=10, limit=2), []
    first, second = pending.want(key(60), asked.append), pending.want(key(61), asked.append)
    assert pending.want(key(62), asked.append) is None
    assert asked == [key(60), key(61)] and len(pending) == 2
    assert pending.want(key(60), asked.append) is first  # one already pending is still handed out
    pending.release(key(60))
    assert pending.get(key(60)) is None and len(pending) == 1
    third = pending.want(key(62), asked.append)
    assert third is not None and third is not first and asked[-1] == key(62)
    assert pending.of([key(61), key(62)]) == [(key(61), second), (key(62), third)]
    assert pending.among([key(60), key(61), key(63)]) == {key(61)}
    assert sorted(pending.keys()) == [key(61), key(62)]
    pending.release(key(99))  # releasing one not pending does nothing
    assert len(pending) == 2


def test_starting_until_the_first_samples_arrive():
    pending = PendingNotes(note_len=10, limit=2)
    assert not pending.starting(key(60))  # not pending at all
    note = pending.want(key(60), lambda k: None)
    assert pending.starting(key(60))
    note.ready = 3
    assert not pending.starting(key(60))
    pending.release(key(60))
    assert not pending.starting(key(60))


def test_closed_it_hands_back_what_was_pending_and_refuses_the_rest():
    pending, asked = PendingNotes(note_len=10, limit=4), []
    notes = {k: pending.want(k, asked.append) for k in (key(60), key(61))}
    lost = pending.close()
    assert dict(lost) == notes and len(pending) == 0
    assert pending.want(key(62), asked.append) is None and asked == [key(60), key(61)]


def test_threads_wanting_the_same_notes_ask_for_each_once_and_never_past_the_limit():
    pending, asked, lock = PendingNotes(note_len=8, limit=16), [], threading.Lock()

    def ask(k):
        with lock:
            asked.append(k)
    got: list[list] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def want_all(row: list) -> None:
        start.wait()
        row.extend(pending.want(key(p), ask) for p in range(40, 72))
    threads = [threading.Thread(target=want_all, args=(row,)) for row in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(asked) == len(set(asked)) == 16 == len(pending)
    for p in range(40, 72):  # every thread got the same buffer for a key, or None for all if it was refused
        column = {id(row[p - 40]) for row in got}
        assert len(column) == 1
        assert (got[0][p - 40] is None) == (key(p) not in asked)
