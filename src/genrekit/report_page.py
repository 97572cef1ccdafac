"""The exploration report's page: ``index.html``, static, with relative links only."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from genrekit.backbones import BACKBONES

if TYPE_CHECKING:
    from genrekit.report import Report


_CAPTIONS = {
    "pca_mfcc.png": "The seed's view: each clip's MFCC image flattened, every pixel standardized "
    "over the clips, then PCA. Genres that sit apart differ already before any learning.",
    "pca_logmel.png": "The same PCA on the log-mel images (128 bands): far more pixels per clip.",
    "scree.png": "Variance explained by the first components; a steep start means a few "
    "directions carry most of the differences between clips.",
    "tsne.png": "A non-linear map (t-SNE) of clip summaries: mean and standard deviation of each "
    "MFCC and mel band over the clip's real audio. Distances between far clusters mean little.",
    "gallery.png": "Example clips of each genre, mel spectrogram and MFCCs side by side; each "
    "MFCC row is scaled on its own (MFCC 0, the loudness, would otherwise hide the others).",
    "balance.png": "Class balance: clips per genre (and artists per genre when known). One artist "
    "with many clips in a genre makes accuracy look better than it is.",
    "durations.png": "Seconds of real audio per clip; shorter clips are zero-padded.",
    **{
        f"embedding_{b}.png": f"t-SNE of the clips' {b} embeddings (genrekit embed): what a "
        "network pretrained on a large music collection hears. Tighter genre clusters here than "
        "in the maps above mean a small classifier on these embeddings will do well."
        for b in BACKBONES
    },
}


def page(report: Report) -> str:
    """The report's ``index.html``: static, relative links only."""
    n = report.numbers
    esc = html.escape
    min_text = f", at least {n['min_seconds']:g} s long" if n["min_seconds"] else ""
    rows = []
    names = {
        "mfcc_pca": "PCA of MFCC (2-D)",
        "mel_pca": "PCA of mel (2-D)",
        "summary_tsne": "t-SNE of summaries",
        **{f"embedding_tsne_{b}": f"t-SNE of {b} embeddings" for b in BACKBONES},
    }
    folds = ""
    for key, value in n["separation"].items():
        if value is None:
            rows.append(
                f"<tr><td>{esc(names[key])}</td><td colspan=4>not measurable "
                "(needs 2+ genres with 2+ clips each)</td></tr>"
            )
            continue
        folds = f"{value['folds']}-fold "
        rows.append(
            f"<tr><td>{esc(names[key])}</td><td>{value['silhouette']:.3f}</td>"
            f"<td>{value['silhouette_shuffled']:.3f}</td>"
            f"<td>{100 * value['knn_accuracy']:.1f} %</td>"
            f"<td>{100 * value['knn_accuracy_shuffled']:.1f} % "
            f"(chance {100 * value['chance']:.1f} %)</td></tr>"
        )
    genres = ", ".join(f"{esc(g)} ({c})" for g, c in n["genres"].items())
    figures = "\n".join(
        f'<figure><img src="{esc(name)}" alt="{esc(name)}"><figcaption>{esc(_CAPTIONS[name])}'
        "</figcaption></figure>"
        for name in report.files
        if name in _CAPTIONS
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>genrekit explore: {esc(Path(n["store"]).name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ color: #555; font-size: 0.95em; margin-top: 0.4em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.7em; }}
th {{ background: #f4f4f4; }} code {{ background: #f4f4f4; padding: 0 0.2em; }}
</style></head><body>
<h1>Exploring <code>{esc(n["store"])}</code></h1>
<p>{n["clips_explored"]} of {n["clips_in_store"]} clips (at most {n["per_genre"] or "all"} per
genre, seed {n["seed"]}{min_text}): {genres}.
PCA compares the first {n["frames_compared"]} frames ({n["seconds_compared"]:g} s) of every clip:
the audio the shortest selected clip really has. Raise <code>--min-seconds</code> to compare more.
</p>
<h2>Do genres cluster? Measured</h2>
<p>Silhouette (from -1 to 1; above 0 means clips sit nearer their own genre) and the accuracy of a
5-nearest-neighbour vote ({folds}cross-validated) in each 2-D map, beside the same numbers
with the genre labels shuffled.</p>
<table><tr><th>space</th><th>silhouette</th><th>shuffled</th><th>k-NN accuracy</th>
<th>shuffled labels</th></tr>
{"".join(rows)}
</table>
{figures}
<p>All numbers: <a href="numbers.json">numbers.json</a>. Made by genrekit explore.</p>
</body></html>
"""
