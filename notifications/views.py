"""The /notifications page: channels (add, edit, delete, send a test), open incidents, and the alert log.

Thin views over the notifications selectors and services. Every action works as a plain form post
(a message, then back to the page) and, with htmx, answers with its toast and a
`notifications-changed` event that refreshes the channels. A test is queued, never sent here:
the scheduler's step sends it within seconds, and the channel's row polls for its result.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from common.access import view_permission
from common.forms import errors_by_field
from common.pages import Toast, action_done, htmx_response, message
from notifications import selectors, services
from notifications.forms import NotificationChannelForm
from notifications.models import Delivery, NotificationChannel

VIEW = "notifications.view_notificationchannel"
ADD = "notifications.add_notificationchannel"
CHANGE = "notifications.change_notificationchannel"
DELETE = "notifications.delete_notificationchannel"
# Sending a test acts on the channel: the same right as changing it.
TEST = CHANGE


def _done(request, toast: Toast) -> HttpResponse:
    return action_done(request, toast, event="notifications-changed", redirect_to=reverse("notifications"))


def _form(request, template: str, context: dict, *, title: str, status: int = 200) -> HttpResponse:
    """A form's fragment for the dialog (htmx), or the same form on a page of its own."""
    if request.htmx:
        return render(request, template, context, status=status)
    return render(request, "notifications/form_page.html", {**context, "title": title, "fragment": template},
                  status=status)


def _before(request) -> int | None:
    value = request.GET.get("before", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


@require_GET
@view_permission(VIEW)
def notification_list(request):
    context = {**selectors.notifications_page(before=_before(request)), "title": "Notifications"}
    target = request.htmx.target if request.htmx else None
    if target == "channel-list":
        return render(request, "notifications/_channels.html", context)
    if target == "alert-log":
        return render(request, "notifications/_log.html", context)
    return render(request, "notifications/list.html", context)


def _save(request, form: NotificationChannelForm) -> bool:
    """Save through the service; its refusals become the form's messages. True if saved."""
    try:
        services.channel_save(channel=form.instance, now=timezone.now())
    except ValidationError as exc:
        for field, errors in errors_by_field(exc).items():
            form.add_error(field if field in form.fields else None, errors)
        return False
    return True


@require_http_methods(["GET", "POST"])
@view_permission(ADD)
def channel_new(request):
    form = NotificationChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _save(request, form):
        return _done(request, Toast(f"Channel “{form.instance.name}” added. Send it a test to check that it works."))
    return _form(request, "notifications/_channel_form.html", {"form": form, "channel": None},
                 title="Add a notification channel")


def _from_environment(request, channel: NotificationChannel, *, refused: bool) -> HttpResponse:
    """A channel from NOTIFY_URLS is changed there: say so (409 when a change was asked for)."""
    return _form(request, "notifications/_from_environment.html", {"channel": channel},
                 title=channel.name, status=409 if refused else 200)


@require_http_methods(["GET", "POST"])
@view_permission(CHANGE)
def channel_edit(request, pk: int):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    if channel.from_environment:
        return _from_environment(request, channel, refused=request.method == "POST")
    # The form works on its own copy: a refused save must not leave `channel` half-changed.
    form = NotificationChannelForm(request.POST or None, instance=get_object_or_404(NotificationChannel, pk=pk))
    if request.method == "POST" and form.is_valid() and _save(request, form):
        return _done(request, Toast(f"Channel “{form.instance.name}” saved."))
    return _form(request, "notifications/_channel_form.html", {"form": form, "channel": channel},
                 title=f"Edit “{channel.name}”")


@require_http_methods(["GET", "POST"])
@view_permission(DELETE)
def channel_delete(request, pk: int):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    if channel.from_environment and channel.enabled:
        return _from_environment(request, channel, refused=request.method == "POST")
    if request.method == "GET":
        return _form(request, "notifications/_channel_delete.html", {"channel": channel},
                     title=f"Delete “{channel.name}”?")
    name = channel.name
    services.channel_delete(channel=channel)
    return _done(request, Toast(f"Channel “{name}” deleted. Its alerts stay in the log; schedules that chose it "
                                "no longer name it."))


@require_POST
@view_permission(TEST)
def channel_test(request, pk: int):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    delivery = services.delivery_test(channel=channel, now=timezone.now(), requested_by=request.user.get_username())
    if request.htmx:
        body = render(request, "notifications/_test_status.html", {"delivery": delivery}).content.decode()
        return htmx_response(request, body, events={"notifications-log": {}})
    message(request, Toast(f"Test for “{channel.name}” queued: the scheduler sends it within seconds. Its result is "
                           "in the alert log below.", "info"))
    return redirect(reverse("notifications"))


@require_GET
@view_permission(VIEW)
def delivery_status(request, pk: int):
    """One delivery's state in words: the channel's row polls it while a test is on its way."""
    delivery = get_object_or_404(Delivery, pk=pk)
    response = render(request, "notifications/_test_status.html", {"delivery": delivery})
    if request.htmx and delivery.is_final:  # the result is in: the log shows it too
        trigger_client_event(response, "notifications-log", {})
    return response
