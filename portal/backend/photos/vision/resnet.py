"""dlib's face-recognition ResNet run by PyTorch, with the weights read from dlib's own model file.

The dlib wheel (dlib-bin) is built without BLAS, so its network takes about 80 ms per face on one core; the same
network as PyTorch convolutions takes about 11 ms and gives the same 128-d descriptors (to about 1e-6, checked against
dlib each time the network loads, and in tests/vision/test_resnet.py). Templates stay comparable with every
template dlib computed before.

The network (dlib's dnn_face_recognition_ex.cpp): a 7x7 convolution, max pooling, 14 residual blocks of two 3x3
convolutions (four of them halve the size, with 2x2 average pooling on the shortcut), the average over the image
and a 256 -> 128 linear layer without bias. Batch normalisation is folded into per-channel affine layers.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

CHIP_SIZE = 150  # the aligned face chip the network takes (dlib's input_rgb_image_sized<150>)
CHIP_PADDING = 0.25  # dlib's compute_face_descriptor default: the chip shows a quarter of the face size around it
BLOCKS = 14
DESCRIPTOR_SIZE = 128
# Agreement with dlib's own network on the self-check chip; measured differences are about 4e-7.
SELF_CHECK_TOLERANCE = 1e-4
_LAYER_NAMES = (b"con_4", b"affine_", b"relu_", b"max_pool_2", b"avg_pool_2", b"add_prev_", b"fc_2")
# Each layer's name as dlib serialises a string (length, then the bytes): one search finds the next layer.
_NEXT_LAYER = re.compile(b"|".join(re.escape(bytes([1, len(name)]) + name) for name in _LAYER_NAMES))


class ModelFormatError(ValueError):
    """The model file is not the network this module knows how to read."""


@dataclasses.dataclass(frozen=True)
class Conv:
    """One convolution: weights (out, in, rows, cols), biases, stride and padding (rows, cols)."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Pool:
    """One pooling window: size, stride and padding (rows, cols)."""

    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Block:
    """A residual block: conv, affine, relu, conv, affine, added to the input (average-pooled when it shrinks)."""

    conv1: Conv
    scale1: tuple[np.ndarray, np.ndarray]
    conv2: Conv
    scale2: tuple[np.ndarray, np.ndarray]
    shortcut_pool: Pool | None


@dataclasses.dataclass(frozen=True)
class Weights:
    """Everything the forward pass needs, as numpy arrays."""

    mean_rgb: tuple[float, float, float]
    stem: Conv
    stem_scale: tuple[np.ndarray, np.ndarray]
    stem_pool: Pool
    blocks: list[Block]
    linear: np.ndarray  # (256, 128): descriptor = pooled features @ linear


class _Reader:
    """dlib's serialisation: integers as a size byte (high bit: negative) and little-endian bytes, tensors as a
    version, four dimensions and little-endian float32 values, floats as an integer mantissa and exponent."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        """Read `data` from `pos` on."""
        self.data = data
        self.pos = pos

    def integer(self) -> int:
        """One serialised integer."""
        if self.pos >= len(self.data):
            raise ModelFormatError("the model file ends early")
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        """One serialised float (mantissa * 2**exponent)."""
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def tensor(self) -> tuple[np.ndarray, tuple[int, ...]]:
        """One serialised tensor (version 2) and its dimensions (samples, k, rows, cols)."""
        if (version := self.integer()) != 2:
            raise ModelFormatError(f"tensor format version {version}, expected 2")
        dims = tuple(self.integer() for _ in range(4))
        count = int(np.prod(dims))
        end = self.pos + 4 * count
        if count <= 0 or end > len(self.data):
            raise ModelFormatError(f"a tensor of {dims} does not fit in the file")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos = end
        return values, dims

    def seek_name(self, name: bytes) -> int:
        """Move past the next serialised string `name`; its position, or -1 when there is none."""
        at = self.data.find(bytes([1, len(name)]) + name, self.pos)
        if at >= 0:
            self.pos = at + 2 + len(name)
        return at


def read_weights(path: Path) -> Weights:
    """The network's weights from dlib_face_recognition_resnet_model_v1.dat (ModelFormatError for another file)."""
    reader = _Reader(path.read_bytes())
    if reader.seek_name(b"input_rgb_image_sized") < 0:
        raise ModelFormatError("no input_rgb_image_sized layer")
    mean = (reader.real(), reader.real(), reader.real())
    if (reader.integer(), reader.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise ModelFormatError(f"the network does not take {CHIP_SIZE} px chips")
    layers = list(_layers(reader))
    kinds = [kind for kind, _ in layers]
    expected = ["con", "affine", "relu", "max_pool"]
    for down in _DOWNSAMPLES:
        expected += ["con", "affine", "relu", "con", "affine"] + (["avg_pool"] if down else []) + ["add", "relu"]
    expected += ["avg_pool", "fc"]
    if kinds != expected:
        raise ModelFormatError(f"unexpected layers: {kinds[:12]}... ({len(kinds)} layers, expected {len(expected)})")
    values = iter(value for _, value in layers)
    stem, stem_scale = _conv(next(values)), _scale(next(values))
    next(values)
    stem_pool = _pool(next(values))
    blocks = []
    for down in _DOWNSAMPLES:
        conv1, scale1 = _conv(next(values)), _scale(next(values))
        next(values)
        conv2, scale2 = _conv(next(values)), _scale(next(values))
        pool = _pool(next(values)) if down else None
        next(values), next(values)
        blocks.append(Block(conv1, scale1, conv2, scale2, pool))
    everything = next(values)
    if everything[:2] != (0, 0):  # dlib's avg_pool_everything: a 0x0 window means the whole image
        raise ModelFormatError("the last pooling is not over the whole image")
    outputs, inputs, linear = next(values)
    if (inputs, outputs) != (blocks[-1].conv2.weight.shape[0], DESCRIPTOR_SIZE) or linear.size != inputs * outputs:
        raise ModelFormatError(f"the last layer maps {inputs} to {outputs} values")
    return Weights(mean, stem, stem_scale, stem_pool, blocks, linear.reshape(inputs, outputs))


# Which of the 14 blocks halve the size (dlib's alevel4 .. alevel0: 3 + 4 + 3 + 3 + 1 blocks, each level after the
# first starting with a downsampling block).
_DOWNSAMPLES = (False, False, False, True, False, False, False, True, False, False, True, False, False, True)


def _layers(reader: _Reader) -> Iterator[tuple[str, Any]]:
    """Each layer's kind and serialised values, from the input on (dlib writes the innermost layer first)."""
    while found := _NEXT_LAYER.search(reader.data, reader.pos):
        name = found.group()[2:]
        reader.pos = found.end()
        if name == b"con_4":
            params, _dims = reader.tensor()
            yield "con", (params, tuple(reader.integer() for _ in range(7)))
        elif name == b"affine_":
            yield "affine", reader.tensor()[0]
        elif name in (b"max_pool_2", b"avg_pool_2"):
            yield name.decode()[:-2], tuple(reader.integer() for _ in range(6))
        elif name == b"fc_2":
            outputs, inputs = reader.integer(), reader.integer()
            yield "fc", (outputs, inputs, reader.tensor()[0])
        else:
            yield name.decode().rstrip("_").removesuffix("_prev"), None


def _conv(value: tuple[np.ndarray, tuple[int, ...]]) -> Conv:
    """A convolution from con_'s parameters (filters then biases) and its settings."""
    params, (filters, rows, cols, stride_y, stride_x, pad_y, pad_x) = value
    if min(filters, rows, cols, stride_y, stride_x) <= 0 or min(pad_y, pad_x) < 0:
        raise ModelFormatError(f"a convolution with settings {value[1]}")
    inputs, rest = divmod(params.size - filters, filters * rows * cols)
    if rest or inputs <= 0:
        raise ModelFormatError(f"a convolution of {filters} {rows}x{cols} filters has {params.size} parameters")
    split = filters * inputs * rows * cols
    return Conv(
        params[:split].reshape(filters, inputs, rows, cols), params[split:], (stride_y, stride_x), (pad_y, pad_x)
    )


def _scale(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine layer's per-channel gamma and beta."""
    half = params.size // 2
    return params[:half], params[half:]


def _pool(value: tuple[int, ...]) -> Pool:
    """A pooling layer's window, stride and padding."""
    rows, cols, stride_y, stride_x, pad_y, pad_x = value
    return Pool((rows, cols), (stride_y, stride_x), (pad_y, pad_x))


class FaceNet:
    """The network in PyTorch: 150x150 RGB chips in, 128-d float32 descriptors out."""

    name = "pytorch"

    def __init__(self, weights: Weights) -> None:
        """Turn the weights into tensors (PyTorch is imported here, not at module import)."""
        import torch

        self._torch = torch
        self._functional = torch.nn.functional

        def conv(c: Conv) -> tuple[Any, Any, tuple[int, int], tuple[int, int]]:
            return torch.from_numpy(c.weight.copy()), torch.from_numpy(c.bias.copy()), c.stride, c.padding

        def scale(s: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
            return tuple(torch.from_numpy(v.copy()).view(1, -1, 1, 1) for v in s)  # type: ignore[return-value]

        self._mean = torch.tensor(weights.mean_rgb, dtype=torch.float32).view(1, 3, 1, 1)
        self._stem = conv(weights.stem), scale(weights.stem_scale), weights.stem_pool
        self._blocks = [
            (conv(b.conv1), scale(b.scale1), conv(b.conv2), scale(b.scale2), b.shortcut_pool) for b in weights.blocks
        ]
        self._linear = torch.from_numpy(weights.linear.copy())
        self._lock = threading.Lock()

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) of n aligned chips (n, 150, 150, 3), uint8 RGB."""
        torch, f = self._torch, self._functional
        with self._lock, self._one_thread(), torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(chips, dtype=np.float32)).permute(0, 3, 1, 2)
            x = (x - self._mean) / 256.0  # dlib's input layer
            (w, b, stride, pad), (gamma, beta), pool = self._stem
            x = f.relu(f.conv2d(x, w, b, stride, pad) * gamma + beta)
            x = f.max_pool2d(x, pool.size, pool.stride, pool.padding)
            for (w1, b1, s1, p1), (g1, e1), (w2, b2, s2, p2), (g2, e2), shortcut in self._blocks:
                y = f.relu(f.conv2d(x, w1, b1, s1, p1) * g1 + e1)
                y = f.conv2d(y, w2, b2, s2, p2) * g2 + e2
                if shortcut is not None:
                    x = f.avg_pool2d(x, shortcut.size, shortcut.stride, shortcut.padding)
                x = f.relu(self._add(y, x))
            out = x.mean(dim=(2, 3)) @ self._linear
        return np.asarray(out.numpy(), dtype=np.float32)

    def _add(self, a: Any, b: Any) -> Any:
        """dlib's add_prev: the sum over the larger of the two shapes, missing values taken as zero (a halving
        block's 3x3 output meets its shortcut's 4x4 average pool)."""
        rows, cols, channels = max(a.shape[2], b.shape[2]), max(a.shape[3], b.shape[3]), max(a.shape[1], b.shape[1])

        def grow(t: Any) -> Any:
            return self._functional.pad(t, (0, cols - t.shape[3], 0, rows - t.shape[2], 0, channels - t.shape[1]))

        return grow(a) + grow(b)

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """Run on one core: analysis runs one process per core, and a 150 px chip gains little from threads."""
        before = self._torch.get_num_threads()
        self._torch.set_num_threads(1)
        try:
            yield
        finally:
            self._torch.set_num_threads(before)
