"""The chaos run: schedulers and worker clusters killed at random while hundreds of schedules fire.

    python -m chaos [--setup pg-redis|sqlite-orm|both] [--rounds N] [--seed S] ...

See chaos/driver.py for what it does and what it checks.
"""
