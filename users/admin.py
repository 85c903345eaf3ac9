"""The admin's user pages: deleting a user goes through ``user_delete`` (their objects and files)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction

from jobs.admin import DeletionPlan
from users.services import user_delete, user_owned_objects

User = get_user_model()


class UserAdmin(DjangoUserAdmin):
    def get_deleted_objects(self, objs, request):
        """The confirmation page lists the user's objects and files that the service deletes."""
        plan = DeletionPlan(self.admin_site, request)
        to_delete = []
        for user in objs:
            owned = [item for obj in user_owned_objects(user=user) for item in plan.tree(obj)]
            tree = plan.tree(user)
            to_delete += [tree[0], [*owned, *(tree[1] if len(tree) > 1 else [])]]
        # Deleting a user is one service decision: it needs the permission to delete users, not the
        # permission to delete each kind of object of theirs (jobs, say, are never deleted on their own).
        return to_delete, dict(plan.counts), set(), plan.protected()

    def delete_model(self, request, obj) -> None:
        user_delete(user=obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for user in queryset:
                user_delete(user=user)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
