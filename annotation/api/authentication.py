"""Token authentication with one light query (every annotator request pays for it)."""
from __future__ import annotations

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from ..hot_sql import attnames, fetch_one, instance, select_list


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication (same header, same refusals), reading the user through one
    prepared join instead of select_related, whose query building cost more than the query."""

    def authenticate_credentials(self, key):
        model = get_user_model()
        names, sql = _user_by_token(model)
        row = fetch_one(sql, [key])
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = instance(model, names, row)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(user._state.db, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token


@lru_cache(maxsize=4)
def _user_by_token(model) -> tuple[list[str], str]:
    names = attnames(model)
    return names, (f"SELECT {select_list(model, 'u')} FROM {model._meta.db_table} u "
                   f"JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s")
