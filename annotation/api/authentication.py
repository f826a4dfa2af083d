"""Token authentication with one light query (every annotator request pays for it)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from ..rating import sql


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication (same header, same refusals), reading the user through one
    prepared join instead of select_related, whose query building cost more than the query."""

    def authenticate_credentials(self, key):
        model = get_user_model()
        names, statement = sql.user_by_token(model)
        row = sql.fetch_one(statement, [key])
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = sql.instance(model, names, row)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(user._state.db, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token
