"""Every save and delete of an audited model is recorded, and every change a service made by UPDATE (which it
announces, core.signals); every Celery task acts as an automation."""

from __future__ import annotations

from celery.signals import task_postrun, task_prerun
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from audit.context import _automation
from audit.services import audit_bulk_change, audit_record, audited, snapshot
from core.signals import changed_by_update


@receiver(pre_save)
def _remember_before(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw or audited(sender) is None or instance.pk is None:
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None


@receiver(post_save)
def _record_save(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or audited(sender) is None:
        return
    before = None if created else getattr(instance, "_audit_before", None)
    audit_record(action="created" if created or before is None else "updated", instance=instance, before=before,
                 after=snapshot(instance))
    instance._audit_before = snapshot(instance)


@receiver(post_delete)
def _record_delete(sender, instance, **kwargs) -> None:
    if audited(sender) is not None:
        audit_record(action="deleted", instance=instance, before=snapshot(instance), after=None)


@receiver(changed_by_update)
def _record_update(sender, *, instance, action: str, changes: dict, **kwargs) -> None:
    audit_bulk_change(instance=instance, action=action, **changes)


_tokens: dict[str, object] = {}


@task_prerun.connect
def _task_acts_as_automation(task_id: str, task, **kwargs) -> None:
    _tokens[task_id] = _automation.set(f"task {task.name}")


@task_postrun.connect
def _task_done(task_id: str, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        _automation.reset(token)
