"""genrekit explore's report (genrekit.report): its files, figures and page."""

from __future__ import annotations

from pathlib import Path


def test_explore_maps_the_embeddings_when_present(embedded_store: Path, tmp_path: Path) -> None:
    from genrekit.report import write_report

    report = write_report(embedded_store, tmp_path / "report")
    assert "embedding_msd-musicnn.png" in report.files
    assert report.numbers["separation"]["embedding_tsne_msd-musicnn"]["knn_accuracy"] > 0.8
    assert 'src="embedding_msd-musicnn.png"' in (tmp_path / "report" / "index.html").read_text()
