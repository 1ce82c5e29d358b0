"""Print the sentiment scorer's figures for docs/sentiment.md: accuracy and macro-F1 of plain VADER, VADER with
the domain's rules, and the product's scorer, on the held-out review sentences and on the tweets, and the time
per comment. Run: .venv/bin/python scripts/sentiment_evaluation.py"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from metrics.sentiment_model import DATA, label, labelled_sentences, scorer, split, vader_domain


def band(score: float) -> int:
    return 1 if score >= 0.05 else -1 if score <= -0.05 else 0


def main() -> None:
    plain = SentimentIntensityAnalyzer()
    model = scorer()
    scorers = {"VADER": lambda text: plain.polarity_scores(text)["compound"],
               "VADER + domain rules": lambda text: vader_domain(text)["compound"],
               "Bellwether (rules + model)": model.score}
    _, held_out = split(labelled_sentences())
    sets = {"Amazon review sentences, held out": held_out,
            "Tweets (not trained on)": labelled_sentences(DATA / "tweets_GroundTruth.tsv.gz")}
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


if __name__ == "__main__":
    main()
