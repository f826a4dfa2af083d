"""Token authentication with one light query (every annotator request pays for it)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication (same header, same refusals), reading the user through a raw
    join instead of select_related, whose query building cost more than the query itself."""

    def authenticate_credentials(self, key):
        users = get_user_model().objects
        user = next(iter(users.raw(f"SELECT u.* FROM {users.model._meta.db_table} u "
                                   f"JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s", [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(user._state.db, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token
