from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from scheduling.models import AuditAction, ScheduleAuditEntry
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 12:00")


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def berlin(make_schedule):
    return make_schedule(now=NOW, timezone="Europe/Berlin")


def pause_schedule(*args) -> str:
    out = StringIO()
    call_command("pause_schedule", *args, stdout=out)
    return out.getvalue().strip()


def test_it_pauses_until_a_time_on_the_schedules_wall_clock_and_resumes(berlin):
    output = pause_schedule(str(berlin.pk), "--until", "2026-05-04T08:00", "--reason", "server maintenance")

    assert output == "“Nightly backup” paused until Mon 4 May 2026, 08:00 CEST — server maintenance. It resumes by itself then."
    assert refreshed(berlin).paused_until == at("2026-05-04 06:00")
    assert ScheduleAuditEntry.objects.get(action=AuditAction.PAUSE).via == "command"
    assert pause_schedule(str(berlin.pk), "--resume") == "“Nightly backup” resumed."
    assert refreshed(berlin).paused_until is None
    assert pause_schedule(str(berlin.pk), "--resume") == "“Nightly backup” is not paused."


def test_it_takes_an_offset_as_given(berlin):
    pause_schedule(str(berlin.pk), "--until", "2026-05-04T08:00:00+00:00")
    assert refreshed(berlin).paused_until == at("2026-05-04 08:00")


@pytest.mark.parametrize(("args", "message"), [
    (["--until", "2026-05-01T13:00"], "until: Choose a time in the future: it is already Fri 1 May 2026, 14:00 CEST"),
    (["--until", "monday"], "until: not an ISO-8601 date and time: 'monday'."),
    (["--until", "2026-05-04T08:00", "--reason", "x" * 201], "reason: Ensure this value has at most 200 characters"),
])
def test_it_exits_1_naming_the_field(berlin, args, message):
    with pytest.raises(CommandError) as caught:
        pause_schedule(str(berlin.pk), *args)
    assert caught.value.returncode == 1 and message in str(caught.value)
    assert refreshed(berlin).paused_until is None


def test_it_exits_2_for_an_unknown_id(db):
    with pytest.raises(CommandError) as caught:
        pause_schedule("999", "--resume")
    assert caught.value.returncode == 2
