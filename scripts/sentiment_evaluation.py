"""Print the sentiment scorer's figures for docs/sentiment.md: accuracy and macro-F1 of plain VADER, VADER with
the domain's rules, and the product's scorer, on the held-out review sentences and the held-out tweets, and the
time per comment; then the same comparison by 5-fold cross-validation (each fifth of both sets held out in
turn, the model trained on the rest). Run: .venv/bin/python scripts/sentiment_evaluation.py"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from metrics.sentiment_model import (
    TRAINING_SET,
    TWEETS,
    label,
    labelled_sentences,
    scorer,
    train,
    training_and_held_out,
    vader_domain,
)


def band(score: float) -> int:
    return 1 if score >= 0.05 else -1 if score <= -0.05 else 0


def main() -> None:
    plain = SentimentIntensityAnalyzer()
    model = scorer()
    scorers = {"VADER": lambda text: plain.polarity_scores(text)["compound"],
               "VADER + domain rules": lambda text: vader_domain(text)["compound"],
               "Bellwether (rules + model)": model.score}
    _, held_out = training_and_held_out()
    sets = {"Amazon review sentences, held out": held_out["reviews"], "Tweets, held out": held_out["tweets"]}
    print("| set | scorer | accuracy | macro-F1 | ms per comment |")
    print("|---|---|---|---|---|")
    for set_name, sentences in sets.items():
        truth = [label(rating) for _, rating in sentences]
        for name, score in scorers.items():
            started = time.perf_counter()
            predicted = [band(score(text)) for text, _ in sentences]
            elapsed = (time.perf_counter() - started) / len(sentences) * 1000
            accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
            print(f"| {set_name} ({len(sentences)}) | {name} | {accuracy:.1%} | "
                  f"{f1_score(truth, predicted, average='macro'):.3f} | {elapsed:.2f} |")

    cross_validation(plain)


def cross_validation(plain: SentimentIntensityAnalyzer, folds: int = 5) -> None:
    """Each fold holds out every `folds`-th sentence of both sets (from a different offset), trains on the rest."""
    sets = {"reviews": labelled_sentences(TRAINING_SET), "tweets": labelled_sentences(TWEETS)}
    print(f"\n{folds}-fold cross-validation, accuracy (ours - VADER):")
    gains = {name: [] for name in sets}
    for fold in range(folds):
        training = [row for rows in sets.values() for index, row in enumerate(rows) if index % folds != fold]
        model = train(training)
        for name, rows in sets.items():
            check = [row for index, row in enumerate(rows) if index % folds == fold]
            truth = [label(rating) for _, rating in check]
            ours = sum(t == band(model.score(text)) for t, (text, _) in zip(truth, check, strict=True)) / len(check)
            theirs = sum(t == band(plain.polarity_scores(text)["compound"])
                         for t, (text, _) in zip(truth, check, strict=True)) / len(check)
            gains[name].append((ours, theirs))
    for name, rows in gains.items():
        ours, theirs = (sum(row[k] for row in rows) / folds for k in (0, 1))
        print(f"{name}: ours {ours:.1%}, VADER {theirs:.1%}, folds ahead {sum(a > b for a, b in rows)} of {folds}; "
              f"by fold: " + ", ".join(f"{a - b:+.1%}" for a, b in rows))


if __name__ == "__main__":
    main()
