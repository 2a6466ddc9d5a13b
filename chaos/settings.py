"""Settings of every process a chaos run starts: the test settings (short retry, reap and announce
delays), the chaos harness installed last, and a lost message sent again within seconds.

The database and the broker come from the environment (DATABASE_URL, REDIS_URL), as in production.
"""

from config.test_settings import *  # noqa: F403
from config.test_settings import INSTALLED_APPS

# Last, so that its ready() runs after the apps have registered their job handlers (chaos/harness.py).
INSTALLED_APPS = [*INSTALLED_APPS, "chaos.harness.ChaosConfig"]

# The outbox sends again a message lost with Redis (or a killed cluster's message in hand) once every
# cluster is idle and this long has passed (30 s by default): a settle within the run's bounded wait.
JOBS_RESEND_LOST_AFTER_SECONDS = 3
