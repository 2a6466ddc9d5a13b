"""Alerts: notification channels (Apprise URLs, email), incidents, and their delivery.

Other apps open and resolve incidents (`services.incident_open` / `incident_resolve`) and register
periodic checks (`registry.register_watch`); the scheduler's step sends what is due. Imports only
`common`: it knows no schedules, jobs or backups.
"""
