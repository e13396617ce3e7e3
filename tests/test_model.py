"""The SING model: shapes, the paper's size, streaming, velocity interpolation, blends."""
import pytest
import torch

from singsynth.model.config import VELOCITY_CLASSES, get_config
from singsynth.model.sing import SING, Encoder, count_parameters, split_state, stack_states, velocity_weights


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SING(get_config("sing-tiny", n_instruments=3)).eval()


def test_paper_size_has_the_published_parameter_count():
    # NSynth-train has about 1,000 instruments; the paper gives about 63.7 M without the encoder.
    model = SING(get_config("sing-paper", n_instruments=1006))
    assert count_parameters(model) == pytest.approx(63.7e6, rel=0.005)
    lstm = count_parameters(model.sequence.lstm) + count_parameters(model.sequence.output)
    assert lstm == pytest.approx(21.1e6, rel=0.01)
    assert count_parameters(model.decoder) == pytest.approx(42.5e6, rel=0.005)
    assert count_parameters(Encoder(model.config)) == pytest.approx(38.3e6, rel=0.005)


def test_paper_framing_gives_265_steps():
    cfg = get_config("sing-paper")
    assert cfg.steps == 265
    assert cfg.padded_samples == 64_000 + 2 * 2304


def test_shapes(tiny):
    with torch.no_grad():
        w = tiny.instrument_weights(torch.tensor([0, 1, 2]))
        out = tiny(w, torch.tensor([40, 60, 80]), torch.tensor([25, 90, 127]))
        emb = Encoder(tiny.config)(out)
    assert out.shape == (3, 64_000)
    assert emb.shape == (3, tiny.config.embedding_dim, 265)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("first,steps", [(8, 64), (1, 1), (3, 17), (265, 265)])
def test_stream_concatenation_equals_whole_note(tiny, first, steps):
    w = tiny.instrument_weights(torch.tensor([0, 2]))
    pitch, vel = torch.tensor([60, 45]), torch.tensor([100, 12])
    with torch.no_grad():
        whole = tiny(w, pitch, vel)
        chunks = list(tiny.stream(w, pitch, vel, first_steps=first, steps=steps))
    streamed = torch.cat(chunks, dim=1)
    assert streamed.shape == whole.shape
    rel = (streamed - whole).abs().max() / whole.abs().max()
    assert rel < 1e-5
    if first < 200:
        assert len(chunks) > 1 and chunks[0].shape[1] < 64_000  # sound starts before the note is done
        # the first chunk already holds `first` frames of the note, not only padding
        assert chunks[0].shape[1] >= first * tiny.config.stride


def test_velocity_interpolation_hits_the_classes_exactly():
    weights, gain = velocity_weights(torch.tensor(VELOCITY_CLASSES))
    assert torch.equal(weights, torch.eye(5))
    assert torch.equal(gain, torch.ones(5))


def test_velocity_between_classes_is_interpolated_not_snapped():
    weights, _ = velocity_weights(torch.tensor([90, 60]))
    assert weights[0].tolist() == pytest.approx([0, 0, 0.4, 0.6, 0])
    assert weights[1].tolist() == pytest.approx([0, 0.6, 0.4, 0, 0])


def test_velocity_below_25_uses_the_25_embedding_with_a_square_law_gain():
    weights, gain = velocity_weights(torch.tensor([1, 10, 24]))
    assert torch.equal(weights[:, 0], torch.ones(3))
    assert gain.tolist() == pytest.approx([(1 / 25) ** 2, (10 / 25) ** 2, (24 / 25) ** 2])


def test_quiet_velocity_scales_the_25_note(tiny):
    w = tiny.instrument_weights(torch.tensor([1, 1]))
    with torch.no_grad():
        out = tiny(w, torch.tensor([60, 60]), torch.tensor([25, 5]))
    assert torch.allclose(out[1], out[0] * (5 / 25) ** 2, atol=1e-7)


def test_blend_weights_mix_instrument_embeddings(tiny):
    blend = torch.tensor([[0.7, 0.3, 0.0]])
    cond = tiny.sequence.conditioning(blend, torch.tensor([60]), torch.eye(5)[[3]])
    table = tiny.sequence.instrument.weight
    expected = 0.7 * table[0] + 0.3 * table[1]
    assert torch.allclose(cond[0, :table.shape[1]], expected)
    with torch.no_grad():
        a = tiny(blend, torch.tensor([60]), torch.tensor([100]))
        b = tiny(tiny.instrument_weights(torch.tensor([0])), torch.tensor([60]), torch.tensor([100]))
    assert not torch.allclose(a, b)


def test_no_time_embedding_ablation_builds_and_runs():
    model = SING(get_config("sing-unittest", n_instruments=2, time_dim=0)).eval()
    assert model.sequence.time is None
    with torch.no_grad():
        out = model(model.instrument_weights(torch.tensor([1])), torch.tensor([60]), torch.tensor([50]))
    assert out.shape == (1, 64_000)


def test_a_note_streamed_alone_equals_the_same_note_in_a_batch(tiny):
    """Streamed alone, in small chunks, a note runs the LSTM on torch's own kernels; four whole notes run it on
    oneDNN's: the same note either way, and oneDNN is switched back on after."""
    w = tiny.instrument_weights(torch.tensor([0, 1, 2, 1]))
    pitch, vel = torch.tensor([60, 45, 70, 52]), torch.tensor([100, 12, 64, 90])
    with torch.no_grad():
        batch = tiny(w, pitch, vel)
        alone = torch.cat(list(tiny.stream(w[:1], pitch[:1], vel[:1], first_steps=1, steps=8)), dim=1)
    assert torch._C._get_mkldnn_enabled()
    assert (alone[0] - batch[0]).abs().max() / batch[0].abs().max() < 1e-5


def stream(model, bfloat16: bool, notes=(0, 2), pitches=(60, 45), velocities=(100, 70)) -> torch.Tensor:
    w = model.instrument_weights(torch.tensor(notes))
    with torch.inference_mode():
        return torch.cat(list(model.stream(w, torch.tensor(pitches), torch.tensor(velocities), first_steps=3,
                                           steps=16, bfloat16=bfloat16)), dim=1)


def test_a_stream_in_bfloat16_is_close_to_float32_and_leaves_the_kernel_setting_as_it_was(tiny):
    full = stream(tiny, False)
    torch._C._set_mkldnn_enabled(False)  # as a small float32 call in another thread leaves it meanwhile
    try:
        fast = stream(tiny, True)
        assert not torch._C._get_mkldnn_enabled()
    finally:
        torch._C._set_mkldnn_enabled(True)
    assert fast.dtype == torch.float32 and fast.shape == full.shape
    assert not torch.equal(fast, full), "bfloat16 was not used"
    error = ((fast - full).pow(2).mean(dim=1) / full.pow(2).mean(dim=1)).sqrt()
    assert (error < 0.05).all(), error


def test_the_bfloat16_copy_of_the_lstm_follows_new_weights(tiny):
    torch.manual_seed(1)
    other = SING(tiny.config).eval()
    model = SING(tiny.config).eval()
    model.load_state_dict(tiny.state_dict())
    assert torch.equal(stream(model, True), stream(tiny, True))
    model.load_state_dict(other.state_dict())  # weights copied in place: the bfloat16 copy must be made again
    assert torch.equal(stream(model, True), stream(other, True))
    assert not any("bfloat16" in name for name in model.state_dict())  # the copy is not part of the model


def test_streams_in_bfloat16_and_float32_keep_apart(tiny):
    w = tiny.instrument_weights(torch.tensor([0, 1]))
    with torch.inference_mode():
        fast = tiny.start_stream(w, torch.tensor([60, 62]), torch.tensor([100, 100]), bfloat16=True)
        full = tiny.start_stream(w, torch.tensor([60, 62]), torch.tensor([100, 100]))
    assert [s.bfloat16 for s in split_state(fast)] == [True, True]
    assert stack_states(split_state(fast)).bfloat16
    with pytest.raises(ValueError, match="bfloat16"):
        stack_states([split_state(fast)[0], split_state(full)[1]])


def test_the_paper_decoders_overlap_add_stays_float32_under_autocast(tiny):
    """Under bfloat16 autocast (notes on a CPU with bfloat16 arithmetic) the body multiplies in bfloat16, but the
    overlap-add of its frames runs in float32: torch's bfloat16 CPU kernel for it takes half a second a call."""
    decoder = tiny.decoder
    emb = torch.randn(2, tiny.config.embedding_dim, 12)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        wav = decoder.frames(emb)
        features = decoder.body(emb)
    assert features.dtype == torch.bfloat16 and wav.dtype == torch.float32
    kernel = decoder.synthesis.weight * decoder.window
    with torch.inference_mode():
        expected = torch.nn.functional.conv_transpose1d(features.float(), kernel, None, tiny.config.stride)[:, 0]
    assert torch.equal(wav, expected)


def test_a_model_built_under_inference_mode_streams_in_bfloat16(tiny):
    # a lazily loaded preset builds its model on first use, which may be inside inference_mode: its parameters then
    # carry no version counter
    with torch.inference_mode():
        model = SING(tiny.config).eval()
        model.load_state_dict(tiny.state_dict())
    assert next(model.parameters()).is_inference()
    assert torch.equal(stream(model, True), stream(tiny, True))
