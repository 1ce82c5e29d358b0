"""CSV imports, all or nothing: a file read strictly (integrations.csv_reader), every row checked, then every
row written in one transaction, a chunk at a time through the bulk ingest's own checks and writes.

A file of up to MAX_BATCH_ITEMS rows is imported within its request. A larger one (exports of 50,000+
accounts are normal) becomes a CsvImport: the request checks the file's form and stores it, a worker
imports it as one job whose progress the page and the API show.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import timedelta

from celery import current_app
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import InvalidInput
from integrations.csv_reader import CsvRow, csv_rows
from integrations.ingest import CSV_IMPORTABLE, MAX_BATCH_ITEMS, Caller, IngestKind, IngestResult
from integrations.models import CsvImport, CsvImportPart, IngestBatch
from integrations.services import batch_rejection_record
from integrations.validation import BatchRejected

# An import takes at most this many rows; 100 MB fits them at 200 bytes a row (an accounts export with every
# column is about 100 bytes a row, revenue about 25), and is refused by its length before it is read.
MAX_CSV_ROWS = 500_000
MAX_CSV_BYTES = 100 * 1024 * 1024
# Rows checked and written together: one bulk batch's worth, so each chunk costs what a batch costs.
CHUNK_ROWS = MAX_BATCH_ITEMS
PART_BYTES = 1024 * 1024
# Problems kept for the answer and the job (all are counted).
MAX_LISTED_ERRORS = 100
PROGRESS_SECONDS = 24 * 3600
# A queued or running import not finished this long after it arrived is sent to a worker again (its message
# was lost, or its worker died); a copy that finds the import running elsewhere returns at once.
RESEND_AFTER = timedelta(minutes=2)
# Sent by name: the task module imports this one.
IMPORT_TASK = "integrations.tasks.csv_import_task"

# Where an import is: waiting, checking every row, writing them all, or done.
PHASES = ("queued", "checking", "writing", "succeeded", "failed")
Progress = Callable[[str, int], None]
logger = logging.getLogger(__name__)


def _no_progress(phase: str, rows_done: int) -> None:
    return None


def csv_import_receive(*, kind: IngestKind, upload: UploadedFile, caller: Caller) -> IngestResult | CsvImport:
    """Read an uploaded file once: its form is checked whatever its size (quoting, columns, cells per row, at
    most MAX_CSV_ROWS rows). Up to MAX_BATCH_ITEMS rows are imported now (the IngestResult); a larger file is
    stored and queued as one CsvImport, sent to a worker after commit."""
    upload.seek(0)
    rows: list[CsvRow] = []
    count = 0
    for row in csv_rows(upload, spec=kind.spec, max_rows=MAX_CSV_ROWS):
        count += 1
        if count <= MAX_BATCH_ITEMS:
            rows.append(row)
    if not count:
        raise InvalidInput("The file has a header but no rows: there is nothing to import.")
    if count <= MAX_BATCH_ITEMS:
        return csv_ingest(kind=kind, rows=lambda: rows, total=count, caller=caller)[0]
    return _csv_import_queue(kind=kind, upload=upload, rows=count, caller=caller)


def csv_ingest(*, kind: IngestKind, rows: Callable[[], Iterable[CsvRow]], total: int, caller: Caller,
               progress: Progress = _no_progress) -> tuple[IngestResult, IngestBatch]:
    """Import `total` rows (`rows()` gives them afresh for each pass), all or nothing.

    A file of more than one chunk is checked whole first, so a mistake on its last line costs no writes;
    then every chunk is checked again against the database as it is now and written, in one transaction.
    Raises BatchRejected with the problems by line (the first MAX_LISTED_ERRORS; all are counted).
    """
    if total > CHUNK_ROWS:
        problems = _Problems()
        seen: dict[Hashable, int] = {}
        done = 0
        for chunk in _chunks(rows()):
            _checked(kind, chunk, seen, problems)
            done += len(chunk)
            progress("checking", done)
        if problems.count:
            raise problems.rejection(kind=kind, total=total, caller=caller)
    result = IngestResult()
    with transaction.atomic():
        problems, seen, done = _Problems(), {}, 0
        for chunk in _chunks(rows()):
            parsed, context = _checked(kind, chunk, seen, problems)
            if problems.count:
                raise problems.rejection(kind=kind, total=total, caller=caller)
            result.add(kind.write(parsed, context))
            done += len(chunk)
            progress("writing", done)
        batch = kind.record(result=result, items=total, caller=caller)
    return result, batch


class _Problems:
    """The problems of a file by line: the first MAX_LISTED_ERRORS kept, every one counted."""

    def __init__(self) -> None:
        self.listed: list[dict] = []
        self.count = 0
        self.lines: set[int] = set()

    def add(self, problem: dict) -> None:
        self.count += 1
        self.lines.add(problem["row"])
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append(problem)

    def rejection(self, *, kind: IngestKind, total: int, caller: Caller) -> BatchRejected:
        return BatchRejected(
            f"The file was rejected: {self.count:,} problem(s) in {len(self.lines):,} row(s); nothing was stored.",
            sorted(self.listed, key=lambda problem: problem["row"]),
            log={"kind": kind.kind, "items": total, "api_key": caller.api_key, "user": caller.user,
                 "source": caller.source, "error_count": self.count},
        )


def _chunks(rows: Iterable[CsvRow]) -> Iterator[list[CsvRow]]:
    chunk: list[CsvRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked(kind: IngestKind, chunk: list[CsvRow], seen: dict[Hashable, int], problems: _Problems):
    """Parse and check one chunk; a key seen earlier in the file (`seen`: key -> line) is a duplicate.
    Returns what the kind's write needs; problems go to `problems` by line."""
    errors: list[dict] = []
    parsed = kind.spec.parse_all([row.item for row in chunk], errors)
    for index, item in enumerate(parsed):
        key = kind.unique.of(item) if item else None
        if key is None:
            continue
        first = seen.setdefault(key, chunk[index].line)
        if first != chunk[index].line:
            errors.append({"index": index, "field": kind.unique.field,
                           "message": f"duplicate {kind.unique.what} in this file (first on line {first})"})
    context = kind.check(parsed, errors)
    for error in sorted(errors, key=lambda error: error["index"]):
        problems.add({"row": chunk[error["index"]].line, "field": error.get("field"), "message": error["message"]})
    return parsed, context


# --- imports too large for a request: a job ------------------------------------------------------------------

def _csv_import_queue(*, kind: IngestKind, upload: UploadedFile, rows: int, caller: Caller) -> CsvImport:
    """Store the file in parts and queue its import; the worker gets it after commit."""
    with transaction.atomic():
        csv_import = CsvImport.objects.create(
            kind=kind.kind, file_name=(upload.name or "")[:255], file_bytes=upload.size, rows=rows,
            source=caller.source, api_key=caller.api_key, user=caller.user if caller.user and caller.user.pk else None)
        upload.seek(0)
        position = 0
        while data := upload.read(PART_BYTES):
            CsvImportPart.objects.create(csv_import=csv_import, position=position, data=data)
            position += 1
        transaction.on_commit(lambda: _send(csv_import.pk), robust=True)
    return csv_import


def _send(csv_import_id: int) -> None:
    current_app.send_task(IMPORT_TASK, kwargs={"csv_import_id": csv_import_id})


def csv_import_run(*, csv_import_id: int) -> bool:
    """Import a queued file (the worker's side); returns False when there was nothing to do.

    Safe to run twice and to run after a worker died: the import is claimed, then run under a row lock that
    a second copy skips, so it runs once at a time; its writes are one transaction, so a dead worker leaves
    nothing half-written, and a copy sent again (the sweeper) starts it afresh. An unexpected error fails the
    import (nothing stored, the error logged) rather than leaving it to be retried forever.
    """
    try:
        return _csv_import_run(csv_import_id)
    except Exception:
        logger.exception("CSV import %s stopped on an unexpected error", csv_import_id)
        csv_import_fail(csv_import_id=csv_import_id, detail="An unexpected error stopped the import; nothing was "
                                                            "stored. Try again, or ask your administrator.")
        raise


def _csv_import_run(csv_import_id: int) -> bool:
    with transaction.atomic():  # claimed where the page and the API see it: running, since when
        claimed = (CsvImport.objects.select_for_update(skip_locked=True)
                   .filter(pk=csv_import_id, status__in=[CsvImport.Status.QUEUED, CsvImport.Status.RUNNING]).first())
        if claimed is None:  # finished, gone, or running in another worker right now
            return False
        CsvImport.objects.filter(pk=csv_import_id).update(status=CsvImport.Status.RUNNING, started_at=timezone.now())
    with transaction.atomic():
        csv_import = (CsvImport.objects.select_for_update(skip_locked=True)
                      .filter(pk=csv_import_id, status=CsvImport.Status.RUNNING).first())
        if csv_import is None:
            return False
        kind = CSV_IMPORTABLE[csv_import.kind]
        caller = Caller(api_key=csv_import.api_key, user=csv_import.user, source=csv_import.source)
        try:
            with transaction.atomic():  # a savepoint: a rejected file leaves only its outcome behind
                result, batch = csv_ingest(
                    kind=kind, total=csv_import.rows, caller=caller, progress=_progress_recorder(csv_import.pk),
                    rows=lambda: csv_rows(_stored_file(csv_import.pk), spec=kind.spec, max_rows=MAX_CSV_ROWS))
        except BatchRejected as rejection:
            _finish(csv_import, status=CsvImport.Status.FAILED, detail=rejection.detail, errors=rejection.errors,
                    error_count=rejection.log["error_count"], batch=batch_rejection_record(rejection=rejection))
        except InvalidInput as problem:
            _finish(csv_import, status=CsvImport.Status.FAILED, detail=problem.detail, errors=problem.errors)
        else:
            _finish(csv_import, status=CsvImport.Status.SUCCEEDED, batch=batch, **result.counts(),
                    detail=f"Imported {csv_import.rows:,} row(s): {result.created:,} created, "
                           f"{result.updated:,} updated, {result.duplicates:,} unchanged.")
    return True


def csv_import_fail(*, csv_import_id: int, detail: str) -> None:
    """Close an import that stopped on an unexpected error, so it is not retried forever."""
    with transaction.atomic():
        csv_import = CsvImport.objects.select_for_update().filter(pk=csv_import_id).first()
        if csv_import is not None and not csv_import.is_finished:
            _finish(csv_import, status=CsvImport.Status.FAILED, detail=detail)


def _finish(csv_import: CsvImport, *, status: str, detail: str, errors: list[dict] | None = None,
            error_count: int | None = None, batch: IngestBatch | None = None, **counts: int) -> None:
    errors = errors or []
    csv_import.status, csv_import.detail, csv_import.batch = status, detail, batch
    csv_import.errors = errors[:MAX_LISTED_ERRORS]
    csv_import.error_count = len(errors) if error_count is None else error_count
    csv_import.finished_at = timezone.now()
    for name, value in counts.items():
        setattr(csv_import, name, value)
    csv_import.save()
    CsvImportPart.objects.filter(csv_import=csv_import).delete()
    cache.delete(_progress_key(csv_import.pk))


def csv_imports_resend_due(*, now=None) -> QuerySet[CsvImport]:
    """The imports still unfinished RESEND_AFTER after they arrived."""
    return CsvImport.objects.filter(status__in=[CsvImport.Status.QUEUED, CsvImport.Status.RUNNING],
                                    received_at__lte=(now or timezone.now()) - RESEND_AFTER)


def csv_imports_resend(*, now=None) -> int:
    """The sweeper: send again every import still unfinished RESEND_AFTER after it arrived. Returns how many."""
    due = list(csv_imports_resend_due(now=now).values_list("pk", flat=True))
    for csv_import_id in due:
        _send(csv_import_id)
    return len(due)


# --- progress: in the cache, since the import's own writes are invisible until it commits ---------------------

def _progress_key(csv_import_id: int) -> str:
    return f"csv-import:{csv_import_id}:progress"


def _progress_recorder(csv_import_id: int) -> Progress:
    def record(phase: str, rows_done: int) -> None:
        cache.set(_progress_key(csv_import_id), {"phase": phase, "rows_done": rows_done}, PROGRESS_SECONDS)

    return record


def csv_import_progress(csv_import: CsvImport) -> dict:
    """Where an import is: `phase` (queued, checking, writing, succeeded, failed) and the rows done in it."""
    if csv_import.is_finished:
        return {"phase": csv_import.status, "rows_done": csv_import.rows if csv_import.status == "succeeded" else 0}
    recorded = cache.get(_progress_key(csv_import.pk)) if csv_import.status == CsvImport.Status.RUNNING else None
    return recorded or {"phase": "queued" if csv_import.status == CsvImport.Status.QUEUED else "checking",
                        "rows_done": 0}


# --- the stored file, read back as a stream -------------------------------------------------------------------

class _StoredFile(io.RawIOBase):
    """A CsvImport's parts, read in order one at a time: the worker never holds the whole file."""

    def __init__(self, csv_import_id: int) -> None:
        self._csv_import_id = csv_import_id
        self._position = 0
        self._data = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset >= len(self._data):
            part = (CsvImportPart.objects.filter(csv_import_id=self._csv_import_id, position=self._position)
                    .values_list("data", flat=True).first())
            if part is None:
                return 0
            self._data, self._offset, self._position = memoryview(bytes(part)), 0, self._position + 1
        size = min(len(buffer), len(self._data) - self._offset)
        buffer[:size] = self._data[self._offset:self._offset + size]
        self._offset += size
        return size


def _stored_file(csv_import_id: int) -> io.BufferedReader:
    return io.BufferedReader(_StoredFile(csv_import_id), buffer_size=PART_BYTES)
