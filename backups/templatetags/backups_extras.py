from django import template

from backups import files, tasks

register = template.Library()


@register.filter
def human_size(size) -> str:
    """1.2 MB (powers of 1000, as disks are sold)."""
    return files.human_size(size)


@register.filter
def retention_sentence(schedule) -> str:
    """What a backup schedule keeps, in a sentence."""
    return tasks.retention_sentence(schedule.params if isinstance(schedule.params, dict) else {},
                                    zone=schedule.timezone or "UTC")
