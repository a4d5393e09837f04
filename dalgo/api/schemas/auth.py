"""Bodies of the sign-in and password-reset routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from dalgo.api.schemas.common import Password


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_at: datetime


class PasswordResetRequest(BaseModel):
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    code: str = Field(max_length=200)
    new_password: str = Field(max_length=1024)

    _check_password = field_validator("new_password")(Password.check)
