"""The PyTorch port of musicnn (genrekit.musicnn): it loads the ONNX weights and agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrekit.backbones import BACKBONES, load_backbone
from genrekit.errors import ModelError
from tests.musicnn_reference import _reference


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _reference("msd-musicnn")


@pytest.mark.parametrize("name", BACKBONES)
def test_pytorch_port_loads_the_onnx_weights_and_agrees(name: str) -> None:
    torch = pytest.importorskip("torch")
    from genrekit.musicnn import MusiCNN, state_from_onnx

    reference = _reference(name)
    model = MusiCNN()
    model.load_state_dict(state_from_onnx(load_backbone(name, precision="float32").path))
    model.eval()
    with torch.no_grad():
        out = model.outputs(torch.from_numpy(reference["patches"]))
    assert np.abs(out["taggram"].numpy() - reference["taggram"]).max() < 1e-4
    assert np.abs(out["penultimate"].numpy() - reference["penultimate"]).max() < 1e-4


@pytest.mark.needs_torch
def test_weights_are_not_read_from_a_graph_that_folded_them(tmp_path: Path) -> None:
    """A folded export has no named convolution weights: refused, not silently left random."""
    from genrekit.musicnn import MusiCNN, export_onnx, state_from_onnx

    export_onnx(MusiCNN().eval(), tmp_path / "folded.onnx")
    with pytest.raises(ModelError, match=r"folded\.onnx: no named weights.*front\.0\.conv"):
        state_from_onnx(tmp_path / "folded.onnx")


def test_port_exports_to_onnx_in_its_cheaper_layer_order(reference, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    pytest.importorskip("torch")
    from genrekit.musicnn import MusiCNN, export_onnx, state_from_onnx

    model = MusiCNN()
    model.load_state_dict(state_from_onnx(load_backbone(precision="float32").path))
    export_onnx(model.eval(), tmp_path / "port.onnx")
    session = ort.InferenceSession(str(tmp_path / "port.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, {"patches": reference["patches"]}), strict=True))
    for name in ("taggram", "penultimate"):
        assert np.abs(got[name] - reference[name]).max() < 1e-4, name
    graph = onnx.load(str(tmp_path / "port.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "MaxPool" in ops  # the timbral branches pool over bands before ReLU and batch norm
