"""Face detection (dlib HOG or CNN) on a downscaled copy plus a full-resolution pass where small faces may be, and
128-d descriptors from full-resolution face crops."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from typing import Any, Literal

import numpy as np
from PIL import Image

from portal.backend.photos.vision import models, resnet
from portal.backend.photos.vision.schemas import TEMPLATE_SIZE, Box, Detection

FaceModel = Literal["hog", "cnn"]
# Who runs dlib's descriptor network: dlib itself (about 80 ms a face) or the PyTorch copy (about 11 ms a face, the
# same descriptors, but importing PyTorch takes about 2 s and 0.5 GB once per process): worth it for batches only.
DescriptorEngine = Literal["dlib", "pytorch"]
Cells = tuple[int, int, int, int]  # top, left, bottom, right (end exclusive) in cells of the cue's grid
# Faces are described at 80..320 px wide: below ~80 px the 5 landmarks get unreliable, above ~320 px the
# 150 px face chip gains nothing and the crop only costs time.
MIN_DESCRIBE_SIDE = 80
MAX_DESCRIBE_SIDE = 320
CROP_MARGIN = 0.6  # of the face size on each side: room for the aligned, padded, possibly rotated face chip
# dlib's CNN detector keeps per-call state inside the network object, so concurrent calls are serialised.
_NET_LOCK = threading.Lock()

# The small-face pass. The first pass only sees faces down to about 2-3% of the long side (HOG needs ~60 px on
# the 2x-upsampled 1600 px copy); below that, HOG runs on the full-resolution image, upsampled once like
# face_recognition's recipe, but only around face-sized blobs of skin-coloured, detailed cells of a coarse grid
# (a flat wall, sky or backdrop holds no face) that lie outside the faces already found.
CUE_SIDE = 800  # long side of the copy the cues are computed on
CELL_SHARE = 0.01  # one grid cell is 1% of the long side: about the smallest face the full-resolution pass finds
SKIN_SHARE = 0.45  # a cell is a candidate when this share of its pixels has skin colour ...
DETAIL_SHARE = 0.45  # ... and this share has a visible edge (eyes, mouth, hairline)
EDGE_STEP = 12  # grey-level difference between neighbours that counts as an edge
# A blob of candidate cells wider or taller than this (9% of the long side) is an arm, a big face or a skin-coloured
# surface, not a face the first pass could miss. A small face with its neck and ears spans up to 4-5 cells, but one
# above a beige coat or touching a neighbour's face joins a blob of 7-9 cells (on the bench's second set of photos,
# a cap of 6 lost 2 of 14 faces of 1-2% that way; 12 finds no more than 9).
MAX_BLOB_CELLS = 9
# The regions are scanned as if the long side were this long: a face of 0.75% of the long side is then 75 px, where
# HOG (which needs about 60 px) scores it clearly; face_recognition's recipe (full resolution, upsampled once) scans
# a 4000 px photo as if it were 8000 px, where such faces only just pass.
SMALL_FACE_SIDE = 10_000
# The regions are scanned with HOG's image pyramid cut to models.SMALL_FACE_LEVELS levels: the faces it no longer
# sees are ones the first pass finds.
EDGE_PAD = 0.5  # of a cell around every region: HOG's window reaches past the face's box
# Skin colour in YCbCr (after Chai & Ngan, narrowed so that beige walls and orange cloth fall outside).
SKIN_Y_MIN, SKIN_CR, SKIN_CB = 50, (138, 170), (85, 125)
# A dark photo (a dim hall, a stage) is brightened for the cue until this percentile of its luma reaches this level,
# by at most this gain: HOG itself normalises contrast, but the cue's thresholds are absolute grey and colour levels
# (on two draws of the bench's small set at 15% of the light, the analysis found 39 of 61 faces without it and 48
# with it; full-resolution HOG 47). A well-lit photo, whose brightest tones reach the level already, is left as it is.
BRIGHT_PERCENTILE, BRIGHT_LEVEL, MAX_GAIN = 99, 160.0, 4.0
GREY_CHROMA = 3.0  # mean |Cb-128|+|Cr-128| below this: a black-and-white photo, where detail alone is the cue
# Faces the small-face pass finds are kept from a little below the first pass's HOG score (dlib's own threshold, 0):
# every stored face is shown to staff, so a false one costs a look, and a missed one is an unseen risk. Faces of
# about 1% of the long side are borderline for HOG, and whether one scores just above or just below 0 depends on the
# scale it is scanned at. On four draws of the bench's small set (205 faces), -0.05 found 176 faces against 174 at 0,
# with the same detections elsewhere; the first false one in a region (the astronaut's mission patch) scored -0.09,
# and below -0.1 they come thick (bench/pipeline.py prints precision by face size).
SMALL_FACE_MIN_SCORE = -0.05
DUPLICATE_IOU = 0.3  # a small-face detection overlapping a first-pass face this much is the same face
# A face already found brings its own hair, ears, neck and collar, which pass the cue but hold no second face (a
# face behind it shows beside that margin, and a blob reaching past it is still scanned with a cell around it).
# As shares of the found face's box: to each side, above, and below.
HEAD_MARGIN = (0.3, 0.3, 0.6)
# Touching scans are merged into one rectangle only where it costs at most this much more than scanning the area
# they cover: an L of blobs (a face's neck and an arm) is cheaper scanned as two rectangles than as their box.
MERGE_WASTE = 1.2
MAX_MERGE_SCANS = 40  # a group of more touching scans (a skin-coloured, detailed surface) is scanned as its box


class FaceAnalyzer:
    """Finds faces and computes their descriptors; models load on first use and are shared per process."""

    def __init__(
        self,
        *,
        model: FaceModel = "hog",
        detect_max_side: int = 1600,
        upsample: int = 1,
        small_faces: bool = True,
        descriptors: DescriptorEngine = "dlib",
    ) -> None:
        """Choose the detector, the longest side of the copy detection runs on, dlib's upsampling count, whether HOG
        also looks for small faces at full resolution where the cues suggest them, and who runs the descriptor
        network (`pytorch` for batches of many faces)."""
        if model not in ("hog", "cnn"):
            raise ValueError(f"Unknown face model {model!r}; use 'hog' or 'cnn'.")
        if descriptors not in ("dlib", "pytorch"):
            raise ValueError(f"Unknown descriptor engine {descriptors!r}; use 'dlib' or 'pytorch'.")
        if detect_max_side < 64 or upsample < 0:
            raise ValueError("detect_max_side must be at least 64 and upsample at least 0.")
        self.model = model
        self.detect_max_side = detect_max_side
        self.upsample = upsample
        self.small_faces = small_faces
        self.descriptors = descriptors
        self.detector_name = f"dlib-{model}"

    def load(self) -> None:
        """Load every model this analyzer needs now (e.g. in a worker process) rather than on the first photo."""
        self._detector()
        models.shape_predictor.load()
        self._describer()

    def _describer(self) -> models.ChipDescriber:
        """The descriptor network as the chosen engine runs it."""
        return (models.chip_describer if self.descriptors == "pytorch" else models.dlib_chip_describer).load()

    def _detector(self) -> Any:
        """The dlib detector object for the chosen model."""
        return (models.hog_detector if self.model == "hog" else models.cnn_detector).load()

    def detection_size(self, width: int, height: int) -> tuple[int, int]:
        """Size of the copy detection runs on: the longer side at most detect_max_side, aspect kept."""
        scale = min(1.0, self.detect_max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def detect(self, image: Image.Image) -> list[Detection]:
        """Face boxes relative to the full oriented image, found on a downscaled copy for speed."""
        image = _rgb(image)
        size = self.detection_size(*image.size)
        small = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        pixels = np.asarray(small)
        detections = []
        for (left, top, right, bottom), score in self._predict(pixels):
            # dlib rectangles are inclusive; +1 makes them pixel edges. Relative coordinates of the copy are
            # those of the full image, so no scale factor is needed.
            box = Box.from_pixels(left, top, right + 1, bottom + 1, small.width, small.height)
            if box.w > 0 and box.h > 0:
                detections.append(Detection("face", box, score, self.detector_name))
        if self.small_faces and self.model == "hog" and small is not image:
            detections += self._small_faces(image, small, detections)
        return detections

    def _small_faces(self, image: Image.Image, small: Image.Image, found: list[Detection]) -> list[Detection]:
        """Faces below the first pass's reach: HOG at full resolution, upsampled once, in the candidate regions."""
        detector = models.small_face_hog.load()
        extra: list[Detection] = []
        scale = SMALL_FACE_SIDE / max(image.size)
        for left, top, right, bottom in small_face_regions(small, image.size, [d.box for d in found]):
            crop = image.crop((left, top, right, bottom))
            size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
            pixels = np.asarray(crop.resize(size, Image.Resampling.BILINEAR))
            rects, scores, _ = detector.run(pixels, 0, min(0.0, SMALL_FACE_MIN_SCORE))
            for r, score in zip(rects, scores, strict=True):
                if score < SMALL_FACE_MIN_SCORE:
                    continue
                box = Box.from_pixels(
                    left + r.left() / scale,
                    top + r.top() / scale,
                    left + (r.right() + 1) / scale,
                    top + (r.bottom() + 1) / scale,
                    *image.size,
                )
                if box.w > 0 and box.h > 0 and all(_iou(box, d.box) < DUPLICATE_IOU for d in found + extra):
                    extra.append(Detection("face", box, float(score), self.detector_name))
        return extra

    def _predict(self, pixels: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Raw detector output on an RGB array: inclusive pixel rectangles and scores."""
        detector = self._detector()
        if self.model == "hog":
            rects, scores, _ = detector.run(pixels, self.upsample, 0.0)
            return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores, strict=True)]
        with _NET_LOCK:
            found = detector(pixels, self.upsample)
        return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence)) for d in found]

    def describe(self, image: Image.Image, boxes: list[Box]) -> list[np.ndarray]:
        """A 128-d float32 descriptor for each box, computed on a crop around the face at a useful resolution."""
        if not boxes:
            return []
        image = _rgb(image)
        predictor = models.shape_predictor.load()
        dlib = models.import_dlib()
        chips = []
        for box in boxes:
            pixels, rect = _face_crop(image, box)
            shape = predictor(pixels, dlib.rectangle(*rect))
            # The aligned chip dlib's compute_face_descriptor makes for itself, here made once for all the faces.
            chips.append(dlib.get_face_chip(pixels, shape, size=resnet.CHIP_SIZE, padding=resnet.CHIP_PADDING))
        vectors = self._describer().describe(np.stack(chips))
        return [v.astype(np.float32).reshape(TEMPLATE_SIZE) for v in vectors]

    def analyze(self, image: Image.Image, *, with_templates: bool) -> list[Detection]:
        """Detect faces and, only when asked (templates are biometric data), add their descriptors."""
        image = _rgb(image)
        detections = self.detect(image)
        if not with_templates or not detections:
            return detections
        templates = self.describe(image, [d.box for d in detections])
        return [dataclasses.replace(d, template=t) for d, t in zip(detections, templates, strict=True)]


def small_face_regions(
    copy: Image.Image, full_size: tuple[int, int], faces: list[Box]
) -> list[tuple[int, int, int, int]]:
    """Full-resolution pixel rectangles where faces too small for the first pass may be.

    A cell of a grid (1% of the long side) is a candidate when it holds skin-coloured pixels and detail and its
    centre is not inside a face already found or its head's margin; each face-sized blob of touching candidate
    cells, widened by a cell on every side, is scanned, and touching scans are merged where that wastes little area.
    """
    scale = CUE_SIDE / max(copy.size)
    cue = copy if scale >= 1 else copy.resize(
        (max(1, round(copy.width * scale)), max(1, round(copy.height * scale))), Image.Resampling.BILINEAR
    )  # fmt: skip
    ycc = np.asarray(_exposed(cue).convert("YCbCr"), dtype=np.int16)
    luma, cb, cr = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    grey = luma.astype(np.float32)
    edges = np.zeros(grey.shape, dtype=bool)
    edges[:, 1:] = np.abs(np.diff(grey, axis=1)) > EDGE_STEP
    edges[1:, :] |= np.abs(np.diff(grey, axis=0)) > EDGE_STEP
    cell = max(2, round(CELL_SHARE * max(cue.size)))
    detail = _cell_share(edges, cell) >= DETAIL_SHARE
    if float(np.mean(np.abs(cb - 128) + np.abs(cr - 128))) < GREY_CHROMA:
        candidate = detail  # no colour to go by: every cell with detail
    else:
        skin = (luma > SKIN_Y_MIN) & (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
        candidate = detail & (_cell_share(skin, cell) >= SKIN_SHARE)
    rows, cols = candidate.shape
    centres_y = (np.arange(rows) + 0.5) * cell / cue.height
    centres_x = (np.arange(cols) + 0.5) * cell / cue.width
    side, above, below = HEAD_MARGIN
    for face in faces:  # a face inside a face already found, or in its head's margin, is no other face
        inside_y = (centres_y >= face.y - above * face.h) & (centres_y <= face.y + (1 + below) * face.h)
        inside_x = (centres_x >= face.x - side * face.w) & (centres_x <= face.x + (1 + side) * face.w)
        candidate[np.ix_(inside_y, inside_x)] = False
    # each face-sized blob, widened by a cell on every side so that a face around the blob is whole inside its scan
    scans = [
        (max(0, top - 1), max(0, left - 1), min(rows, bottom + 1), min(cols, right + 1))
        for top, left, bottom, right in _groups(candidate)
        if bottom - top <= MAX_BLOB_CELLS and right - left <= MAX_BLOB_CELLS
    ]
    width, height = full_size
    fx, fy = width / cue.width, height / cue.height
    pad = cell * EDGE_PAD  # in cue pixels
    return [
        (
            max(0, round((left * cell - pad) * fx)),
            max(0, round((top * cell - pad) * fy)),
            min(width, round((right * cell + pad) * fx)),
            min(height, round((bottom * cell + pad) * fy)),
        )
        for top, left, bottom, right in _merge_scans(scans, candidate.shape)
    ]


def _exposed(cue: Image.Image) -> Image.Image:
    """The cue image brightened like a camera's auto exposure when the photo is dark, so that its skin colours and
    edges reach the levels the cue's thresholds assume (in YCbCr both shrink towards grey with the light)."""
    luma = np.asarray(cue.convert("L"))
    bright = float(np.percentile(luma, BRIGHT_PERCENTILE))
    gain = min(MAX_GAIN, BRIGHT_LEVEL / max(bright, 1.0))
    if gain <= 1.0:
        return cue
    return Image.fromarray(np.clip(np.asarray(cue, dtype=np.float32) * gain, 0, 255).astype(np.uint8))


def _merge_scans(scans: list[Cells], shape: tuple[int, int]) -> list[Cells]:
    """Rectangles to scan for a set of cell rectangles: touching ones merged wherever that wastes little area."""
    cover = np.zeros(shape, dtype=bool)
    for top, left, bottom, right in scans:
        cover[top:bottom, left:right] = True
    out: list[Cells] = []
    for group in _groups(cover):
        members = [s for s in scans if _inside(s, group)]
        out += [group] if len(members) > MAX_MERGE_SCANS else _merge_cheap(members)
    return out


def _merge_cheap(rects: list[Cells]) -> list[Cells]:
    """Merge two rectangles into their box while the box is at most MERGE_WASTE times the area the two cover."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(rects)), 2):
            a, b = rects[i], rects[j]
            box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
            overlap = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
            if _area(box) <= MERGE_WASTE * (_area(a) + _area(b) - overlap):
                rects[i] = box
                del rects[j]
                merged = True
                break
    return rects


def _area(rect: Cells) -> int:
    """The number of cells in a (top, left, bottom, right) rectangle."""
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def _inside(rect: Cells, box: Cells) -> bool:
    """Whether a cell rectangle lies within another."""
    return rect[0] >= box[0] and rect[1] >= box[1] and rect[2] <= box[2] and rect[3] <= box[3]


def _cell_share(mask: np.ndarray, cell: int) -> np.ndarray:
    """The share of True pixels in each cell x cell block of a mask (the last, partial blocks padded with False)."""
    rows, cols = -(-mask.shape[0] // cell), -(-mask.shape[1] // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.float32)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(rows, cell, cols, cell).mean(axis=(1, 3))


def _groups(mask: np.ndarray) -> list[Cells]:
    """Bounding boxes (top, left, bottom, right; end exclusive) of the 8-connected groups of True cells."""
    seen = np.zeros(mask.shape, dtype=bool)
    rows, cols = mask.shape
    boxes = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        stack = [start]
        top, left, bottom, right = start[0], start[1], start[0] + 1, start[1] + 1
        while stack:
            r, c = stack.pop()
            top, left, bottom, right = min(top, r), min(left, c), max(bottom, r + 1), max(right, c + 1)
            for nr in range(max(0, r - 1), min(rows, r + 2)):
                for nc in range(max(0, c - 1), min(cols, c + 2)):
                    if mask[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        boxes.append((int(top), int(left), int(bottom), int(right)))
    return boxes


def _iou(a: Box, b: Box) -> float:
    """Intersection over union of two relative boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def _rgb(image: Image.Image) -> Image.Image:
    """The image as RGB (dlib wants 8-bit RGB arrays); a no-op for prepared images."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _face_crop(image: Image.Image, box: Box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """An RGB array around one face, rescaled so the face is 80..320 px wide, and the face's inclusive rect in it."""
    left, top, right, bottom = box.to_pixels(image.width, image.height)
    side = max(right - left, bottom - top, 1)
    margin = round(side * CROP_MARGIN)
    crop_box = (
        max(0, left - margin),
        max(0, top - margin),
        min(image.width, right + margin),
        min(image.height, bottom + margin),
    )
    crop = image.crop(crop_box)
    factor = 1.0
    if side < MIN_DESCRIBE_SIDE:
        factor = MIN_DESCRIBE_SIDE / side
    elif side > MAX_DESCRIBE_SIDE:
        factor = MAX_DESCRIBE_SIDE / side
    if factor != 1.0:
        size = (max(1, round(crop.width * factor)), max(1, round(crop.height * factor)))
        crop = crop.resize(size, Image.Resampling.BICUBIC)
    rect = (
        round((left - crop_box[0]) * factor),
        round((top - crop_box[1]) * factor),
        max(round((left - crop_box[0]) * factor), round((right - crop_box[0]) * factor) - 1),
        max(round((top - crop_box[1]) * factor), round((bottom - crop_box[1]) * factor) - 1),
    )
    return np.asarray(crop), rect
