"""Convert a musicnn TensorFlow checkpoint (``MSD_musicnn``, ``MTT_musicnn``) to genrekit's port.

    python scripts/convert_musicnn.py                         # MSD_musicnn (the default)
    python scripts/convert_musicnn.py --model MTT_musicnn     # the MagnaTagATune tagger

(needs the project's venv with the train extra). Both models have the same architecture and
input chain; they differ in their weights and their 50 tags (``MSD_LABELS``, ``MTT_LABELS``).

1. makes a throwaway virtual environment with TensorFlow 2.15 (CPU), librosa and the PyPI
   package ``musicnn`` 0.1.0 (ISC licence; its weights are inside the wheel). genrekit itself
   never depends on TensorFlow;
2. inside it, reads every variable of the checkpoint, and runs the original model (musicnn's own
   ``models.define_model`` graph, restored from the checkpoint) on a bundled example song with
   musicnn's own librosa input chain: the reference outputs;
3. here, loads the variables into ``genrekit.musicnn.MusiCNN``, checks that the port equals the
   original on the same input patches and on patches made by genrekit's own input chain from the
   audio, and writes:

   - ``src/genrekit/pretrained/<name>.onnx`` (``msd-musicnn``, ``mtt-musicnn``): patches
     (n, 187, 96) in; taggram, penultimate, mean_pool, max_pool out; the tags and input chain
     in its metadata;
   - ``tests/data/musicnn_reference.npz`` (MSD) or ``musicnn_mtt_reference.npz`` (MTT):
     TensorFlow's outputs for four patches of the example, so tests that cannot run TensorFlow
     still check the port against the original.

``--tf-python PATH`` reuses a Python that already has TensorFlow, librosa and musicnn.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "src" / "genrekit" / "pretrained"
EXAMPLE = ROOT / "examples" / "metal" / "Muldjord - Armygeddon.mp3"


@dataclass(frozen=True)
class Converted:
    """One musicnn model: its genrekit name, musicnn's label list and the test reference."""

    name: str
    labels: str  # the list's name in musicnn.configuration
    reference: Path


MODELS = {
    "MSD_musicnn": Converted(
        "msd-musicnn",
        "MSD_LABELS",
        ROOT / "tests" / "data" / "musicnn_reference.npz",
    ),
    "MTT_musicnn": Converted(
        "mtt-musicnn",
        "MTT_LABELS",
        ROOT / "tests" / "data" / "musicnn_mtt_reference.npz",
    ),
}
TF_REQUIREMENTS = ["tensorflow-cpu==2.15.1", "numpy<2", "librosa==0.11.*"]
MUSICNN = "musicnn==0.1.0"
TOLERANCE = 1e-4

# Runs inside the TensorFlow environment:
# argv = [checkpoint npz out, reference npz out, audio, model, name of its label list].
INNER = r"""
import os, sys
import numpy as np
import librosa
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
import musicnn
from musicnn import configuration as config, models

out_vars, out_ref, audio_path, model, labels = sys.argv[1:6]
labels = getattr(config, labels)
prefix = os.path.join(os.path.dirname(musicnn.__file__), model) + "/"
reader = tf.compat.v1.train.NewCheckpointReader(prefix)
names = [n for n in reader.get_variable_to_shape_map() if "Adam" not in n and "power" not in n]
np.savez(out_vars, **{n.replace("/", "|"): reader.get_tensor(n) for n in names})

# musicnn's own input chain (extractor.batch_data), with librosa's keyword arguments.
audio, sr = librosa.load(audio_path, sr=config.SR)
rep = librosa.feature.melspectrogram(
    y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
).T
rep = np.log10(10000 * rep.astype(np.float16) + 1)
n_frames = 1 + librosa.time_to_frames(
    3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP)
starts = range(0, rep.shape[0] - n_frames + 1, n_frames)
patches = np.stack([rep[s:s + n_frames] for s in starts])

tf.compat.v1.reset_default_graph()
with tf.name_scope("model"):
    x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
    is_training = tf.compat.v1.placeholder(tf.bool)
    y, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penultimate = models.define_model(
        x, is_training, model, len(labels))
    taggram = tf.nn.sigmoid(y)
sess = tf.compat.v1.Session()
sess.run(tf.compat.v1.global_variables_initializer())
tf.compat.v1.train.Saver().restore(sess, prefix)
values = sess.run([taggram, penultimate, mean_pool, max_pool],
                  feed_dict={x: patches, is_training: False})
np.savez(out_ref, patches=patches.astype(np.float32), audio=audio.astype(np.float32),
         taggram=values[0], penultimate=values[1], mean_pool=values[2], max_pool=values[3],
         tags=np.array(labels))
"""


def tensorflow_python(work: Path) -> Path:
    venv = work / "tf-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *TF_REQUIREMENTS], check=True)
    # musicnn's own requirements pin TensorFlow 1.x; its model code runs on tf.compat.v1.
    subprocess.run([*pip, "--no-deps", MUSICNN], check=True)
    return venv / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="MSD_musicnn")
    parser.add_argument("--tf-python", type=Path, default=None)
    args = parser.parse_args()
    model_name: str = args.model
    spec = MODELS[model_name]

    import numpy as np
    import torch

    from genrekit.audio import load
    from genrekit.backbones import (
        BACKBONE_N_MELS,
        BACKBONE_TAGS,
        PATCH_FRAMES,
        musicnn_input,
        musicnn_patches,
    )
    from genrekit.musicnn import MusiCNN, export_onnx, from_tensorflow

    with tempfile.TemporaryDirectory(prefix="genrekit-musicnn-") as tmp:
        work = Path(tmp)
        python = args.tf_python or tensorflow_python(work)
        variables_npz, reference_npz = work / "variables.npz", work / "reference.npz"
        subprocess.run(
            [
                str(python),
                "-c",
                INNER,
                str(variables_npz),
                str(reference_npz),
                str(EXAMPLE),
                model_name,
                spec.labels,
            ],
            check=True,
        )
        with np.load(variables_npz) as data:
            variables = {name.replace("|", "/"): data[name] for name in data.files}
        with np.load(reference_npz) as data:
            reference = {name: data[name] for name in data.files}

    tags = BACKBONE_TAGS[spec.name]
    if list(reference["tags"]) != tags:
        sys.exit(f"musicnn's {spec.labels} differs from genrekit.backbones's {spec.name} tags")
    model = MusiCNN(n_tags=len(tags))
    model.load_state_dict(from_tensorflow(model, variables))
    model.eval()

    def port(patches: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            outputs = model.outputs(torch.from_numpy(patches))
        return {k: v.numpy() for k, v in outputs.items()}

    def worst(got: dict[str, np.ndarray]) -> float:
        return max(float(np.abs(got[k] - reference[k]).max()) for k in ("taggram", "penultimate"))

    # Same patches: the network alone. Then genrekit's own chain from the file.
    same_input = worst(port(reference["patches"]))
    y, _ = load(EXAMPLE, sr=16000)
    ours = musicnn_patches(musicnn_input(y))
    chain_input = float(np.abs(ours - reference["patches"]).max())
    end_to_end = worst(port(ours))
    print(f"port vs TensorFlow, same patches: max |diff| {same_input:.2e}")
    print(f"genrekit's input chain vs musicnn's: max |diff| {chain_input:.2e}")
    print(f"port vs TensorFlow, from audio: max |diff| {end_to_end:.2e}")
    if max(same_input, end_to_end) > TOLERANCE:
        sys.exit(f"parity above {TOLERANCE}: not written")

    PRETRAINED.mkdir(parents=True, exist_ok=True)
    onnx_path = PRETRAINED / f"{spec.name}.onnx"

    export_onnx(model.eval(), onnx_path, named_weights=True)
    import onnx

    graph = onnx.load(str(onnx_path))
    meta = {
        "name": spec.name,
        "source": f"musicnn 0.1.0 {model_name} (Pons & Serra 2019), ISC licence",
        "tags": tags,
        "input": {
            "sr": 16000,
            "n_fft": 512,
            "hop_length": 256,
            "n_mels": BACKBONE_N_MELS,
            "patch_frames": PATCH_FRAMES,
            "compression": "log10(10000 * float16(mel) + 1)",
        },
        "parity": {"same_patches": same_input, "from_audio": end_to_end},
    }
    entry = graph.metadata_props.add()
    entry.key, entry.value = "genrekit", json.dumps(meta)
    onnx.save(graph, str(onnx_path))

    spec.reference.parent.mkdir(parents=True, exist_ok=True)
    keep = slice(0, 4)  # four patches (12 s) keep the test file small
    np.savez_compressed(
        spec.reference,
        patches=reference["patches"][keep],
        taggram=reference["taggram"][keep],
        penultimate=reference["penultimate"][keep],
        mean_pool=reference["mean_pool"][keep],
        max_pool=reference["max_pool"][keep],
    )
    size = onnx_path.stat().st_size / 1e6
    print(f"wrote {onnx_path} ({size:.1f} MB) and {spec.reference}")


if __name__ == "__main__":
    main()
