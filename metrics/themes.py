"""Feedback themes: survey comments and ticket subjects grouped into recurring themes (TF-IDF and NMF, labelled by
each theme's top terms), each with its volume and trend, sentiment, the accounts and ARR behind it and example
comments. Computed from the tenant's own text, two queries, then scikit-learn on at most MAX_DOCUMENTS texts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.core.cache import cache
from django.db import connection

DEFAULT_DAYS, DEFAULT_THEMES = 180, 8
MAX_DOCUMENTS = 20_000
# A text belongs to its strongest theme when that theme's weight reaches this share of the text's total weight;
# below it, the text is too mixed (or too short) to say.
MIN_SHARE = 0.3
EXAMPLES = 3
# Words that every customer-success text uses, which would otherwise label every theme.
DOMAIN_STOP_WORDS = ("hi", "hello", "thanks", "thank", "please", "team", "issue", "question", "request", "ticket",
                     "customer", "account", "just", "really", "ve", "don", "get", "got", "use", "using")

DOCUMENTS_SQL = """
    (SELECT 'survey' AS source, s.id, s.account_id, s.comment AS text, s.responded_at::date AS day, s.sentiment
       FROM accounts_surveyresponse s
      WHERE s.responded_at >= %(since)s AND s.comment ~ '[[:alpha:]]{3}'
      ORDER BY s.responded_at DESC LIMIT %(limit)s)
    UNION ALL
    (SELECT 'ticket', t.id, t.account_id, t.subject, t.opened_at::date, NULL
       FROM accounts_supportticket t
      WHERE t.opened_at >= %(since)s AND t.subject ~ '[[:alpha:]]{3}'
      ORDER BY t.opened_at DESC LIMIT %(limit)s)
"""
ARR_SQL = """
    SELECT DISTINCT ON (r.account_id) r.account_id, r.mrr * 12 FROM accounts_revenuesnapshot r
    WHERE r.account_id = ANY(%s::bigint[]) AND r.month <= %s ORDER BY r.account_id, r.month DESC
"""


@dataclass(frozen=True)
class Document:
    source: str
    id: int
    account_id: int | None
    text: str
    day: date
    sentiment: float | None


@dataclass
class Theme:
    number: int
    label: str
    terms: list[str]
    documents: list[Document] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    @property
    def volume(self) -> int:
        return len(self.documents)

    def account_ids(self) -> set[int]:
        return {document.account_id for document in self.documents if document.account_id is not None}


@dataclass
class ThemeSummary:
    """A theme as read: volume, the last 30 days against the 30 before, mean comment sentiment, accounts and
    their ARR, and the comments that weigh most in it."""

    number: int
    label: str
    terms: list[str]
    volume: int
    recent: int
    previous: int
    surveys: int
    tickets: int
    sentiment: float | None
    accounts: int
    arr: float
    examples: list[Document]

    @property
    def trend(self) -> float | None:
        """Change of the last 30 days over the 30 before, as a fraction; None when the 30 before had none."""
        return (self.recent - self.previous) / self.previous if self.previous else None


def feedback_documents(*, today: date, days: int = DEFAULT_DAYS) -> list[Document]:
    """The window's survey comments and ticket subjects, newest first, at most MAX_DOCUMENTS of each. One query."""
    with connection.cursor() as cursor:
        cursor.execute(DOCUMENTS_SQL, {"since": today - timedelta(days=days - 1), "limit": MAX_DOCUMENTS})
        return [Document(*row) for row in cursor.fetchall()]


def themes_found(documents: list[Document], *, themes: int = DEFAULT_THEMES) -> list[Theme]:
    """Group the texts: TF-IDF over words and word pairs (English and customer-success stop words out), NMF with
    `themes` components (deterministic), each text to its strongest theme if clear enough; a theme's label is
    its three top terms. Fewer themes than asked when there is too little text to tell them apart."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    if len(documents) < 4:
        return []
    vectorizer = TfidfVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | set(DOMAIN_STOP_WORDS)),
                                 ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True,
                                 token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b")
    try:
        matrix = vectorizer.fit_transform([document.text for document in documents])
    except ValueError:  # nothing left after the stop words
        return []
    count = max(1, min(themes, matrix.shape[1] - 1, len(documents) // 2))
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    weights = model.fit_transform(matrix)
    vocabulary = np.array(vectorizer.get_feature_names_out())
    found = []
    for number, component in enumerate(model.components_):
        terms = [str(term) for term in vocabulary[np.argsort(component)[::-1][:6]]]
        found.append(Theme(number=number, label=", ".join(terms[:3]), terms=terms))
    totals = weights.sum(axis=1)
    for index, document in enumerate(documents):
        best = int(np.argmax(weights[index]))
        if totals[index] > 0 and weights[index, best] / totals[index] >= MIN_SHARE:
            found[best].documents.append(document)
            found[best].weights.append(float(weights[index, best]))
    return [theme for theme in found if theme.documents]


# Finding themes (TF-IDF and NMF over a few thousand texts) took 150-420 ms of the page's time on the demo; the
# same texts give the same themes (the model is deterministic), so they are kept by a digest of the texts.
THEMES_CACHE_SECONDS = 6 * 3600


def themes_cached(documents: list[Document], *, themes: int = DEFAULT_THEMES) -> list[Theme]:
    """themes_found, computed once for the same texts and number of themes (the cache key is their digest, in
    the tenant's key space): a new comment or ticket, or an edited one, is a new digest."""
    digest = hashlib.sha256(repr((themes, [(document.source, document.id, document.account_id, document.text,
                                            document.day, document.sentiment) for document in documents]))
                            .encode()).hexdigest()
    key = f"feedback-themes:{digest}"
    found = cache.get(key)
    if found is None:
        found = themes_found(documents, themes=themes)
        cache.set(key, found, THEMES_CACHE_SECONDS)
    return found


def account_arr(account_ids: set[int], *, today: date) -> dict[int, float]:
    """Each account's ARR today (latest MRR x 12). One query."""
    if not account_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(ARR_SQL, [sorted(account_ids), today])
        return {account_id: float(arr) for account_id, arr in cursor.fetchall()}


def theme_summaries(*, today: date, days: int = DEFAULT_DAYS, themes: int = DEFAULT_THEMES,
                    account_ids: set[int] | None = None) -> list[ThemeSummary]:
    """The themes of the window, most ARR at stake first. With `account_ids` (a CSM's book), the themes are
    still found on all the tenant's text, but counted, valued and exemplified on those accounts only. Two
    queries."""
    found = themes_cached(feedback_documents(today=today, days=days), themes=themes)
    every_account = set().union(*(theme.account_ids() for theme in found)) if found else set()
    arr = account_arr(every_account if account_ids is None else every_account & account_ids, today=today)
    summaries = []
    for theme in found:
        pairs = [(document, weight) for document, weight in zip(theme.documents, theme.weights, strict=True)
                 if account_ids is None or document.account_id in account_ids]
        if not pairs:
            continue
        documents = [document for document, _ in pairs]
        accounts = {document.account_id for document in documents if document.account_id is not None}
        sentiments = [document.sentiment for document in documents if document.sentiment is not None]
        ranked = sorted(pairs, key=lambda pair: -pair[1])
        summaries.append(ThemeSummary(
            number=theme.number, label=theme.label, terms=theme.terms, volume=len(documents),
            recent=sum(document.day > today - timedelta(days=30) for document in documents),
            previous=sum(today - timedelta(days=60) < document.day <= today - timedelta(days=30)
                         for document in documents),
            surveys=sum(document.source == "survey" for document in documents),
            tickets=sum(document.source == "ticket" for document in documents),
            sentiment=sum(sentiments) / len(sentiments) if sentiments else None,
            accounts=len(accounts), arr=sum(arr.get(account, 0.0) for account in accounts),
            examples=[document for document, _ in ranked if document.source == "survey"][:EXAMPLES]
            or [document for document, _ in ranked][:EXAMPLES]))
    return sorted(summaries, key=lambda summary: (-summary.arr, -summary.volume))
