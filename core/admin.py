"""The admin's frame: the product's name, and django-q2's own models out of the way.

django-q2 is our queue, not our record: its schedules (the scheduler's safety net, created by a
migration) are not for editing, and our Job table is the history of what ran.
"""

from django.contrib import admin
from django_q import models as q_models

admin.site.site_header = "Channel archive administration"
admin.site.site_title = "Channel archive"
admin.site.index_title = "Schedules, jobs, backups and channels"
# The lists are wide (a schedule in words, its next and last run): give them the room at 1280 px.
admin.site.enable_nav_sidebar = False

for model in (q_models.Schedule, q_models.Success, q_models.Failure, q_models.OrmQ):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
