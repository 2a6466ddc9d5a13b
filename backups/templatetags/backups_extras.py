from django import template

from backups import files

register = template.Library()


@register.filter
def human_size(size) -> str:
    """1.2 MB (powers of 1000, as disks are sold)."""
    return files.human_size(size)
