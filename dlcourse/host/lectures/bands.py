"""The slides' reference results and the bands a full run must land in.

The runner's summary and the lecture tests both read this table, so a band
is written down exactly once. Each band names a metric that the notebook
records with :func:`dlcourse.results.record`; ``minus`` turns it into the
difference of two recorded metrics, for claims such as "at least 0.03 below".
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Band:
    metric: str
    low: float | None = None
    high: float | None = None
    slide: str = ""  # the slide's value, as the slides print it
    minus: str | None = None

    @property
    def label(self):
        return f"{self.metric} - {self.minus}" if self.minus else self.metric

    def value(self, results):
        """Return the banded value from a notebook's recorded results.

        Raises:
            KeyError: the notebook did not record a metric this band needs.
        """
        for name in (self.metric, self.minus):
            if name and name not in results:
                raise KeyError(f"the notebook recorded no {name!r} (it recorded: {sorted(results)})")
        value = results[self.metric]
        return value - results[self.minus] if self.minus else value

    def contains(self, value):
        """Return whether ``value`` lies inside the band."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self):
        """Return the band as text, e.g. '>= 0.97'."""
        parts = []
        if self.low is not None:
            parts.append(f">= {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        return " and ".join(parts)


BANDS = {
    "01_mnist": [
        Band("test_accuracy", low=0.970, slide="0.9778"),
    ],
    "02_imdb": [
        Band("best_val_accuracy", low=0.87, slide="~0.89"),
        Band("test_accuracy", low=0.86, slide="0.8826"),
        Band("grid_best_score", low=0.86, slide="0.89"),
    ],
    "03_reuters": [
        Band("test_accuracy", low=0.76, slide="0.7640"),
        Band("bottleneck_best_val_accuracy", high=0.76, slide="~0.71-0.73"),
        Band("best_val_accuracy", minus="bottleneck_best_val_accuracy", low=0.03),
        Band("test_accuracy", minus="random_baseline", low=0.5, slide="random ~0.19"),
    ],
    "04_boston": [
        Band("cv_mae", high=2.8, slide="~2.50"),
        Band("sklearn_cv_mae", high=2.8, slide="~2.50"),
        Band("test_mae", high=3.2, slide="2.83"),
        # Each fold normalized with its own statistics: every feature's mean moves between folds.
        Band("fold_mean_spread", low=0.01, slide="per-fold normalization"),
    ],
    # The slides' claims about the recorded validation curves.
    "05_overfitting": [
        Band("smaller_min_epoch", minus="original_min_epoch", low=1, slide="later minimum"),
        Band("bigger_final_val_loss", minus="original_final_val_loss", low=0.0, slide="bigger ends higher"),
        Band("original_final_val_loss", minus="l2_final_val_loss", low=0.0, slide="L2 ends lower"),
        Band("original_final_val_loss", minus="dropout_final_val_loss", low=0.0, slide="dropout ends lower"),
    ],
}


def bands_for(notebook_path):
    """Return the bands of a notebook, found by its file stem ([] if none)."""
    return BANDS.get(Path(notebook_path).stem, [])
