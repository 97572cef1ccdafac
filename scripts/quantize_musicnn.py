"""Build a backbone's int8 musicnn graph from its shipped float32 one.

    python scripts/quantize_musicnn.py ../shared/data/gtzan-dev                  # msd-musicnn
    python scripts/quantize_musicnn.py ../shared/data/gtzan-dev --backbone mtt-musicnn

musicnn spends ~80 % of its time in its front end's five convolutions: two "timbral" ones (7
frames x 38 or 67 bands, 204 filters each) and three "temporal" ones (128, 64, 32 frames x 1
band). This script:

1. rebuilds the PyTorch port from ``pretrained/<backbone>.onnx`` and exports it again in the
   port's cheaper layer order (the same numbers: max over bands before ReLU and batch norm,
   temporal convolutions per band; see ``genrekit.musicnn._FrontBranch``);
2. quantizes the five front-end convolutions to int8 (weights per channel, activations per
   tensor, ranges calibrated on real music: patches of the long clips with ids 00000-00004 of
   every genre in DATA_DIR), with onnxruntime's static quantization. The rest stays float32: it
   is little of the time, and quantizing it lost more accuracy than it saved;
3. moves each timbral branch's max pool over bands before its dequantization (dequantizing is
   rising, so the result is the same) so that only the maxima are dequantized;
4. measures the int8 graph against the float32 one on held-out patches (ids 00005-00009) and
   writes ``pretrained/<backbone>-int8.onnx`` with those numbers in its metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from genrekit.audio import load
from genrekit.backbones import (
    BACKBONE_SAMPLE_RATE,
    BACKBONES,
    OUTPUTS,
    backbone_file,
    musicnn_input,
    musicnn_patches,
)
from genrekit.musicnn import MusiCNN, export_onnx, state_from_onnx

PRETRAINED = Path(__file__).resolve().parent.parent / "src" / "genrekit" / "pretrained"
QUANTIZED_CONVS = [f"/front.{i}/Conv" for i in range(5)]  # the front end's convolutions
MIN_COSINE = 0.995  # of patch embeddings: refuse to write a graph that drifts further


def patches_of(files: list[Path]) -> np.ndarray:
    found = [musicnn_patches(musicnn_input(load(f, sr=BACKBONE_SAMPLE_RATE)[0])) for f in files]
    return np.concatenate(found).astype(np.float32)


class Patches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime has no type hints
    def __init__(self, patches: np.ndarray, batch: int = 16):
        starts = range(0, len(patches), batch)
        self.batches = iter([{"patches": patches[i : i + batch]} for i in starts])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def export_float(source: Path, path: Path) -> None:
    model = MusiCNN()
    model.load_state_dict(state_from_onnx(source))
    export_onnx(model.eval(), path)


def max_before_dequantize(graph: onnx.GraphProto) -> int:
    """Move each DequantizeLinear that feeds a MaxPool after it; returns how many moved.

    Only the timbral branches pool that way; the temporal ones reduce float32 numbers, which
    onnxruntime's ReduceMax does faster than uint8 ones."""
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    moved = 0
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        after = users.get(dq.output[0], [])
        if len(after) != 1 or after[0].op_type != "MaxPool":
            continue
        pool = after[0]
        quantized, result = dq.input[0], pool.output[0]
        pool.input[0], pool.output[0] = quantized, f"{quantized}_max"
        dq.input[0], dq.output[0] = f"{quantized}_max", result
        moved += 1
    del graph.value_info[:]  # recorded types of moved tensors are stale: let onnxruntime infer
    # Put the nodes back in an order where every input exists before it is used.
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise RuntimeError("graph has a cycle after the move")
        for node in ready:
            ordered.append(node)
            known.update(node.output)
        pending = [n for n in pending if n not in ready]
    del graph.node[:]
    graph.node.extend(ordered)
    return moved


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def agreement(float_path: Path, int8_path: Path, patches: np.ndarray) -> dict[str, Any]:
    exact, fast = session(float_path), session(int8_path)
    a = dict(zip(OUTPUTS, exact.run(list(OUTPUTS), {"patches": patches}), strict=True))
    b = dict(zip(OUTPUTS, fast.run(list(OUTPUTS), {"patches": patches}), strict=True))

    def cosine(u: np.ndarray, v: np.ndarray) -> float:
        num = (u * v).sum(axis=1)
        return float((num / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)).min())

    emb_a = np.concatenate([a["mean_pool"], a["max_pool"]], axis=1)
    emb_b = np.concatenate([b["mean_pool"], b["max_pool"]], axis=1)

    # Each graph's fastest run of 3 patches, the two interleaved: on a shared machine the
    # fastest is the one least slowed by the others, and both meet the same load.
    x = patches[:3]
    times: dict[str, list[float]] = {"float32": [], "int8": []}
    for _ in range(60):
        for precision, s in (("float32", exact), ("int8", fast)):
            start = time.perf_counter()
            s.run(None, {"patches": x})
            times[precision].append((time.perf_counter() - start) / len(x) * 1000)

    return {
        "patches": len(patches),
        "min_cosine_patch_embedding": round(cosine(emb_a, emb_b), 5),
        "max_abs_taggram": round(float(np.abs(a["taggram"] - b["taggram"]).max()), 5),
        "same_top_tag": round(float((a["taggram"].argmax(1) == b["taggram"].argmax(1)).mean()), 4),
        "float32_ms_per_patch": round(min(times["float32"]), 1),
        "int8_ms_per_patch": round(min(times["int8"]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="GTZAN-like folders of genre clips")
    parser.add_argument("--backbone", choices=BACKBONES, default="msd-musicnn")
    args = parser.parse_args()
    source = PRETRAINED / backbone_file(args.backbone, "float32")
    target = PRETRAINED / backbone_file(args.backbone, "int8")
    calibration = sorted(args.data_dir.glob("*/*.0000[0-4].*"))
    held_out = sorted(args.data_dir.glob("*/*.0000[5-9].*"))
    if not calibration or not held_out:
        sys.exit(f"{args.data_dir}: no clips with ids 00000-00009 (<genre>/<genre>.<id>.<ext>)")
    calib = patches_of(calibration)
    check = patches_of(held_out)
    print(f"calibrating on {len(calib)} patches of {len(calibration)} clips")

    with tempfile.TemporaryDirectory(prefix="genrekit-quantize-") as tmp:
        exported, quantized = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        export_float(source, exported)
        quantize_static(
            str(exported),
            str(quantized),
            Patches(calib),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=QUANTIZED_CONVS,
            calibrate_method=CalibrationMethod.MinMax,
        )
        graph = onnx.load(str(quantized))
        moved = max_before_dequantize(graph.graph)
        if moved != 2:
            sys.exit(f"expected the 2 timbral max pools to move, moved {moved}")
        source_meta = json.loads(
            {p.key: p.value for p in onnx.load(str(source)).metadata_props}["genrekit"]
        )
        onnx.save(graph, str(quantized))
        measured = agreement(source, quantized, check)
        print(json.dumps(measured, indent=2))
        if measured["min_cosine_patch_embedding"] < MIN_COSINE:
            sys.exit(f"int8 drifts from float32 (cosine < {MIN_COSINE}): not written")
        meta = source_meta | {
            "precision": "int8",
            "quantized": {
                "layers": QUANTIZED_CONVS,
                "calibration": f"{len(calib)} patches of {len(calibration)} clips "
                "(GTZAN development set, ids 00000-00004 of each genre)",
                "against_float32": measured,
            },
        }
        del meta["parity"]  # TensorFlow parity belongs to the float32 graph
        del graph.metadata_props[:]
        entry = graph.metadata_props.add()
        entry.key, entry.value = "genrekit", json.dumps(meta)
        onnx.save(graph, str(target))
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
