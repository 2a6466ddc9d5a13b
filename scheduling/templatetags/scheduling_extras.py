from django import template

from scheduling.models import RunOutcome

register = template.Library()

RUN_BADGES = {
    RunOutcome.DISPATCHED: "badge-info",
    RunOutcome.SUCCEEDED: "badge-ok",
    RunOutcome.PARTLY_FAILED: "badge-warn",
    RunOutcome.FAILED: "badge-error",
    RunOutcome.DISPATCH_FAILED: "badge-error",
    RunOutcome.SKIPPED: "badge-muted",
    RunOutcome.MISSED: "badge-warn",
}


@register.filter
def run_badge(outcome: str) -> str:
    return RUN_BADGES.get(outcome, "badge-neutral")
