"""Convert musicnn's ``MSD_musicnn`` TensorFlow checkpoint to genrekit's PyTorch port and ONNX.

    python scripts/convert_musicnn.py            # needs the project's venv with the train extra

1. makes a throwaway virtual environment with TensorFlow 2.15 (CPU), librosa and the PyPI
   package ``musicnn`` 0.1.0 (ISC licence; its weights are inside the wheel). genrekit itself
   never depends on TensorFlow;
2. inside it, reads every variable of the checkpoint, and runs the original model (musicnn's own
   ``models.define_model`` graph, restored from the checkpoint) on a bundled example song with
   musicnn's own librosa input chain: the reference outputs;
3. here, loads the variables into ``genrekit.musicnn.MusiCNN``, checks that the port equals the
   original on the same input patches and on patches made by genrekit's own input chain from the
   audio, and writes:

   - ``src/genrekit/pretrained/msd-musicnn.onnx``: patches (n, 187, 96) in; taggram,
     penultimate, mean_pool, max_pool out; the tags and input chain in its metadata;
   - ``tests/data/musicnn_reference.npz``: TensorFlow's outputs for the example, so tests that
     cannot run TensorFlow still check the port against the original.

``--tf-python PATH`` reuses a Python that already has TensorFlow, librosa and musicnn.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "src" / "genrekit" / "pretrained"
REFERENCE = ROOT / "tests" / "data" / "musicnn_reference.npz"
EXAMPLE = ROOT / "examples" / "metal" / "Muldjord - Armygeddon.mp3"
MODEL = "MSD_musicnn"
NAME = "msd-musicnn"
TF_REQUIREMENTS = ["tensorflow-cpu==2.15.1", "numpy<2", "librosa==0.11.*"]
MUSICNN = "musicnn==0.1.0"
TOLERANCE = 1e-4

# Runs inside the TensorFlow environment: argv = [checkpoint npz out, reference npz out, audio].
INNER = r"""
import os, sys
import numpy as np
import librosa
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
import musicnn
from musicnn import configuration as config, models

out_vars, out_ref, audio_path = sys.argv[1:4]
prefix = os.path.join(os.path.dirname(musicnn.__file__), "MODEL") + "/"
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
        x, is_training, "MODEL", len(config.MSD_LABELS))
    taggram = tf.nn.sigmoid(y)
sess = tf.compat.v1.Session()
sess.run(tf.compat.v1.global_variables_initializer())
tf.compat.v1.train.Saver().restore(sess, prefix)
values = sess.run([taggram, penultimate, mean_pool, max_pool],
                  feed_dict={x: patches, is_training: False})
np.savez(out_ref, patches=patches.astype(np.float32), audio=audio.astype(np.float32),
         taggram=values[0], penultimate=values[1], mean_pool=values[2], max_pool=values[3],
         tags=np.array(config.MSD_LABELS))
""".replace("MODEL", MODEL)


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
    parser.add_argument("--tf-python", type=Path, default=None)
    args = parser.parse_args()

    import numpy as np
    import torch

    from genrekit.audio import load
    from genrekit.embedding import MSD_TAGS, N_MELS, PATCH_FRAMES, musicnn_input, musicnn_patches
    from genrekit.musicnn import MusiCNN, export_onnx, from_tensorflow

    with tempfile.TemporaryDirectory(prefix="genrekit-musicnn-") as tmp:
        work = Path(tmp)
        python = args.tf_python or tensorflow_python(work)
        variables_npz, reference_npz = work / "variables.npz", work / "reference.npz"
        subprocess.run(
            [str(python), "-c", INNER, str(variables_npz), str(reference_npz), str(EXAMPLE)],
            check=True,
        )
        with np.load(variables_npz) as data:
            variables = {name.replace("|", "/"): data[name] for name in data.files}
        with np.load(reference_npz) as data:
            reference = {name: data[name] for name in data.files}

    if list(reference["tags"]) != MSD_TAGS:
        sys.exit("musicnn's tag list differs from genrekit.embedding.MSD_TAGS")
    model = MusiCNN()
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
    onnx_path = PRETRAINED / f"{NAME}.onnx"

    export_onnx(model.eval(), onnx_path)
    import onnx

    graph = onnx.load(str(onnx_path))
    meta = {
        "name": NAME,
        "source": f"musicnn 0.1.0 {MODEL} (Pons & Serra 2019), ISC licence",
        "tags": MSD_TAGS,
        "input": {
            "sr": 16000,
            "n_fft": 512,
            "hop_length": 256,
            "n_mels": N_MELS,
            "patch_frames": PATCH_FRAMES,
            "compression": "log10(10000 * float16(mel) + 1)",
        },
        "parity": {"same_patches": same_input, "from_audio": end_to_end},
    }
    entry = graph.metadata_props.add()
    entry.key, entry.value = "genrekit", json.dumps(meta)
    onnx.save(graph, str(onnx_path))

    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    keep = slice(0, 4)  # four patches (12 s) keep the test file small
    np.savez_compressed(
        REFERENCE,
        patches=reference["patches"][keep],
        taggram=reference["taggram"][keep],
        penultimate=reference["penultimate"][keep],
        mean_pool=reference["mean_pool"][keep],
        max_pool=reference["max_pool"][keep],
    )
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB) and {REFERENCE}")


if __name__ == "__main__":
    main()
